// Files in the chat page: pick (button, drag and drop, paste), check the size and type before
// anything is sent, declare on the HTTP API, upload straight to S3 with a progress bar, and show
// what a message carries (file chips, inline image previews). Everything from the network goes
// on the page with textContent or as a URL attribute, never as HTML.

export const DEFAULT_LIMITS = {
  maxBytes: 25 * 1024 * 1024,
  types: [
    "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain",
    "application/zip", "application/octet-stream",
  ],
};
const INLINE_IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

// The HTTP API of the local stack, from /_local/config, when it serves one on this machine.
export function humanSize(size) {
  let value = Number(size) || 0;
  for (const unit of ["B", "KB", "MB", "GB"]) {
    if (value < 1024 || unit === "GB") return unit === "B" ? `${value} B` : `${value.toFixed(1)} ${unit}`;
    value /= 1024;
  }
  return `${size} B`;
}

function typeAllowed(type, allowed) {
  return allowed.includes(type) || allowed.includes(`${type.split("/")[0]}/*`);
}

// Why a file cannot be sent, in words, before any byte leaves the browser; null when it can.
export function refusal(file, limits = DEFAULT_LIMITS) {
  const type = (file.type || "application/octet-stream").toLowerCase();
  if (file.size > limits.maxBytes) {
    return `${file.name} is ${humanSize(file.size)}; files can be at most ${humanSize(limits.maxBytes)}.`;
  }
  if (file.size === 0) return `${file.name} is empty.`;
  if (!typeAllowed(type, limits.types)) return `${file.name}: files of type ${type} are not allowed here.`;
  return null;
}

function chip(name, size) {
  const element = document.createElement("span");
  element.className = "file-chip";
  element.dataset.testid = "file-chip";
  const label = document.createElement("span");
  label.className = "file-name";
  label.textContent = String(name);
  const bytes = document.createElement("span");
  bytes.className = "file-size";
  bytes.textContent = humanSize(size);
  element.append(label, bytes);
  return element;
}

// A form POST to a pre-signed S3 URL with upload progress (fetch has none for request bodies).
function postToS3(upload, file, type, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", new File([file], file.name, { type })); // last: S3 ignores what follows
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status < 300) return resolve();
      const code = /<Code>([^<]+)<\/Code>/.exec(xhr.responseText)?.[1] ?? `HTTP ${xhr.status}`;
      reject(new Error(`the storage refused the file (${code})`));
    });
    xhr.addEventListener("error", () => reject(new Error("the upload failed (network)")));
    xhr.send(form);
  });
}

export class Attachments {
  constructor({ composer, input, toast }) {
    this.toast = toast;
    this.apiUrl = null; // the HTTP API base (…/{stage}); null: files are not available
    this.getToken = null;
    this.limits = DEFAULT_LIMITS;
    this.room = null;
    this.items = []; // {id?, name, size, type, done, failed, element}
    this.tray = document.createElement("div");
    this.tray.className = "attachment-tray";
    this.tray.dataset.testid = "attachment-tray";
    this.picker = document.createElement("input");
    this.picker.type = "file";
    this.picker.multiple = true;
    this.picker.hidden = true;
    this.picker.dataset.testid = "file-input";
    this.button = document.createElement("button");
    this.button.type = "button";
    this.button.className = "attach";
    this.button.dataset.testid = "attach-button";
    this.button.textContent = "Attach";
    this.button.title = "Attach files (or drop or paste them here)";
    this.button.disabled = true;
    this.button.addEventListener("click", () => this.picker.click());
    this.picker.addEventListener("change", () => {
      this.add([...this.picker.files]);
      this.picker.value = "";
    });
    composer.before(this.tray);
    composer.prepend(this.button, this.picker);
    const target = composer.closest(".conversation") ?? composer;
    target.addEventListener("dragover", (event) => {
      if (!this.enabled || !event.dataTransfer?.types.includes("Files")) return;
      event.preventDefault();
      target.classList.add("dropping");
    });
    target.addEventListener("dragleave", () => target.classList.remove("dropping"));
    target.addEventListener("drop", (event) => {
      target.classList.remove("dropping");
      if (!this.enabled || !event.dataTransfer?.files.length) return;
      event.preventDefault();
      this.add([...event.dataTransfer.files]);
    });
    input.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (!this.enabled || !files.length) return;
      event.preventDefault();
      this.add(files);
    });
  }

  // apiUrl: the HTTP API (/_local/config httpUrl); limits from /_local/config when it says.
  configure({ apiUrl, getToken, limits }) {
    this.apiUrl = apiUrl ? String(apiUrl).replace(/\/+$/, "") : null;
    this.getToken = getToken;
    this.limits = { ...DEFAULT_LIMITS, ...(limits ?? {}) };
    this.button.hidden = !this.apiUrl;
  }

  get enabled() {
    return Boolean(this.apiUrl && this.room);
  }

  // Files are declared for one room: switching conversation drops what is not sent.
  setRoom(room) {
    if (room === this.room) return;
    this.room = room;
    this.clear();
    this.button.disabled = !this.enabled;
  }

  clear() {
    this.items = [];
    this.tray.replaceChildren();
  }

  get busy() {
    return this.items.some((item) => !item.done && !item.failed);
  }

  // The ids to send with the next message (every upload finished), then an empty tray.
  take() {
    const ids = this.items.filter((item) => item.done).map((item) => item.id);
    this.clear();
    return ids;
  }

  add(files) {
    for (const file of files) {
      const why = refusal(file, this.limits);
      if (why) {
        this.toast("error", "Cannot attach", why);
        continue;
      }
      this.upload(file);
    }
  }

  async upload(file) {
    const type = (file.type || "application/octet-stream").toLowerCase();
    const element = chip(file.name, file.size);
    element.dataset.state = "uploading";
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = 0;
    bar.dataset.testid = "upload-progress";
    element.append(bar);
    this.tray.append(element);
    const item = { name: file.name, size: file.size, type, done: false, failed: false, element };
    this.items.push(item);
    const room = this.room;
    try {
      const token = await this.getToken();
      const reply = await fetch(`${this.apiUrl}/rooms/${encodeURIComponent(room)}/attachments`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ name: file.name, type, size: file.size }),
      });
      const body = await reply.json().catch(() => ({}));
      if (!reply.ok) throw new Error(body.message ?? `HTTP ${reply.status}`);
      await postToS3(body.upload, file, type, (fraction) => { bar.value = fraction; });
      await this.waitReady(body.id);
      item.id = body.id;
      item.done = true;
      bar.value = 1;
      element.dataset.state = "ready";
    } catch (error) {
      item.failed = true;
      element.dataset.state = "failed";
      this.toast("error", "Upload failed", `${file.name}: ${error.message}`);
    }
  }

  // S3 has the bytes; the ObjectCreated check marks the file ready moments later (409
  // attachment_not_ready until then). Only then may a message name it.
  async waitReady(id) {
    let delay = 50;
    for (let waited = 0; waited < 30000; waited += delay, delay = Math.min(delay * 2, 1000)) {
      const token = await this.getToken();
      const reply = await fetch(`${this.apiUrl}/attachments/${encodeURIComponent(id)}`, {
        headers: { authorization: `Bearer ${token}`, accept: "application/json" },
      });
      if (reply.ok) return;
      const body = await reply.json().catch(() => ({}));
      if (body.code !== "attachment_not_ready") throw new Error(body.message ?? `HTTP ${reply.status}`);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    throw new Error("the upload was not checked in time; attach it again");
  }

  async downloadUrl(id) {
    const token = await this.getToken();
    const reply = await fetch(`${this.apiUrl}/attachments/${encodeURIComponent(id)}`, {
      headers: { authorization: `Bearer ${token}`, accept: "application/json" },
    });
    const body = await reply.json().catch(() => ({}));
    if (!reply.ok || typeof body.url !== "string") throw new Error(body.message ?? `HTTP ${reply.status}`);
    return body.url;
  }

  // What a message carries: a chip per file, and an inline preview for images.
  render(files) {
    const box = document.createElement("div");
    box.className = "attachments";
    box.dataset.testid = "message-attachments";
    for (const file of files ?? []) {
      if (typeof file?.id !== "string") continue;
      const element = chip(file.name ?? "file", file.size);
      element.dataset.id = file.id;
      const link = document.createElement("a");
      link.className = "file-open";
      link.textContent = "open";
      link.href = "#";
      link.addEventListener("click", async (event) => {
        event.preventDefault();
        try {
          window.open(await this.downloadUrl(file.id), "_blank", "noopener");
        } catch (error) {
          this.toast("error", "Download failed", error.message);
        }
      });
      element.append(link);
      box.append(element);
      if (INLINE_IMAGES.has(file.type) && this.apiUrl) {
        const image = document.createElement("img");
        image.className = "preview";
        image.dataset.testid = "image-preview";
        image.alt = String(file.name ?? "image");
        if (file.width && file.height) {
          image.width = Math.min(320, Number(file.width));
          image.height = Math.round(image.width * (Number(file.height) / Number(file.width)));
        }
        this.downloadUrl(file.id).then((url) => { image.src = url; }, () => image.remove());
        box.append(image);
      }
    }
    return box;
  }
}
