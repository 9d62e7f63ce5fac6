"""A local certificate authority and a server certificate for 127.0.0.1 / localhost.

Handlers build ``https://{domainName}/{stage}`` for ``@connections`` the way AWS's examples do,
so the local management API must speak TLS that verifies. The stack makes its own CA once
(cached in ``.local-stack/tls`` of the project, or a temporary directory), signs a server
certificate with it, and gives every worker ``AWS_CA_BUNDLE`` pointing at a bundle of this CA and
botocore's usual roots: boto3 keeps verifying certificates, and trusts this CA as well.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from botocore.httpsession import get_cert_path
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TlsFiles", "ensure_certificates"]

_CA_NAME = "serverless-chat local stack CA"
# Renew a little before expiry so a long-running stack never serves an expired certificate.
_VALID_DAYS = 825
_RENEW_WITHIN = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path  # the local CA alone
    cert: Path  # server certificate (127.0.0.1, ::1, localhost)
    key: Path
    bundle: Path  # what AWS_CA_BUNDLE points at: the local CA plus botocore's usual roots

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert, self.key)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the local CA (for tests and tools)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _still_good(path: Path, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - now > _RENEW_WITHIN


def ensure_certificates(directory: Path) -> TlsFiles:
    """The CA and server certificate in ``directory``, made (or renewed) when needed."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server-key.pem",
        directory / "bundle.pem",
    )
    now = dt.datetime.now(dt.UTC)
    if not (
        all(p.exists() for p in (files.ca_cert, files.cert, files.key))
        and all(_still_good(p, now) for p in (files.ca_cert, files.cert))
    ):
        _make(files, now)
    _write_bundle(files)
    return files


def _write_bundle(files: TlsFiles) -> None:
    # AWS_CA_BUNDLE replaces the trust store: keep the public roots in it, so handlers of a stack
    # pointed at real AWS (--endpoint aws) still reach AWS.
    roots = get_cert_path(True)
    public = Path(roots).read_text() if isinstance(roots, str) and Path(roots).is_file() else ""
    files.bundle.write_text(public.rstrip("\n") + "\n" + files.ca_cert.read_text())


def _make(files: TlsFiles, now: dt.datetime) -> None:

    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _CA_NAME)])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=_VALID_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    # Write the key first and the CA last: a half-written set never passes the check above.
    files.key.write_bytes(_pem_key(key))
    files.key.chmod(0o600)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
