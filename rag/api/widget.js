/* Knowledge Console chat widget: one tag puts a chat box on any page.

     <script src="http://API_HOST:PORT/widget.js" data-key="kc_..." data-title="Ask the handbook" defer></script>

   It asks POST /v1/chat?stream=true with the key, shows the text as it streams, then the answer
   with each [n] linked to its source listed under it. Answers and documents are untrusted: the DOM
   is built with createElement and textContent only, and the only links are the widget's own
   anchors. It lives in a shadow root, so the page's styles and the widget's do not mix. */
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script) return;
  const endpoint = new URL("v1/chat?stream=true", script.src);
  const key = (script.dataset.key || "").trim();
  const title = script.dataset.title || "Ask the knowledge base";
  const CITATION = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;
  const SNIPPET_CHARS = 180;

  const CSS = `
    :host { all: initial; }
    * { box-sizing: border-box; }
    .launcher, .panel { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
      color: #1f2933; position: fixed; right: 20px; z-index: 2147483000; }
    .launcher { bottom: 20px; width: 56px; height: 56px; border: 0; border-radius: 50%;
      background: #2457c5; color: #fff; font-size: 24px; cursor: pointer;
      box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .launcher:focus-visible, button:focus-visible, a:focus-visible, input:focus-visible {
      outline: 3px solid #f2b632; outline-offset: 2px; }
    .panel { bottom: 88px; width: min(380px, calc(100vw - 40px)); height: min(560px, calc(100vh - 110px));
      display: flex; flex-direction: column; background: #fff; border-radius: 14px;
      box-shadow: 0 10px 40px rgba(0,0,0,.22); overflow: hidden; }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; gap: 8px; padding: 12px 14px;
      background: #2457c5; color: #fff; }
    header h2 { flex: 1; margin: 0; font-size: 15px; font-weight: 600; }
    header button { background: transparent; color: #fff; border: 1px solid rgba(255,255,255,.5);
      border-radius: 6px; padding: 2px 8px; font: inherit; font-size: 12px; cursor: pointer; }
    .log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 10px;
      background: #f5f7fa; }
    .hint { color: #66707d; font-size: 13px; margin: auto 0; text-align: center; }
    .msg { max-width: 88%; padding: 9px 12px; border-radius: 12px; white-space: pre-wrap;
      overflow-wrap: anywhere; }
    .user { align-self: flex-end; background: #2457c5; color: #fff; border-bottom-right-radius: 4px; }
    .bot { align-self: flex-start; background: #fff; border: 1px solid #dde3ea;
      border-bottom-left-radius: 4px; }
    .bot.streaming .text::after { content: "▍"; color: #2457c5; }
    .cite { color: #2457c5; font-weight: 600; text-decoration: none; }
    .cite:hover { text-decoration: underline; }
    .note { margin-top: 6px; font-size: 12px; color: #8a5a00; }
    .sources { margin-top: 10px; padding-top: 8px; border-top: 1px solid #e3e8ee; white-space: normal;
      font-size: 12.5px; }
    .sources ol { margin: 0; padding: 0; list-style: none; }
    .sources h3 { margin: 0 0 4px; font-size: 12px; text-transform: uppercase; letter-spacing: .04em;
      color: #66707d; }
    .sources li { padding: 6px 8px; margin-top: 4px; border-radius: 8px; background: #f5f7fa; }
    .sources li.uncited { opacity: .65; }
    .sources li.target { background: #fff4d6; box-shadow: inset 3px 0 0 #f2b632; }
    .doc { font-weight: 600; }
    .where { color: #66707d; }
    .badge { margin-left: 6px; padding: 0 6px; border-radius: 8px; background: #e2ecff; color: #2457c5;
      font-size: 11px; }
    .snippet { display: block; margin-top: 2px; color: #4b5563; }
    .error { align-self: stretch; padding: 9px 12px; border-radius: 10px; background: #fdecec;
      color: #9b1c1c; border: 1px solid #f5c2c2; }
    form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e3e8ee; background: #fff; }
    input { flex: 1; min-width: 0; padding: 9px 11px; border: 1px solid #c5cdd8; border-radius: 8px;
      font: inherit; color: inherit; }
    form button { padding: 0 14px; border: 0; border-radius: 8px; background: #2457c5; color: #fff;
      font: inherit; font-weight: 600; cursor: pointer; }
    form button:disabled { background: #9aa9c7; cursor: default; }`;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const host = el("div", { "data-knowledge-console": "" });
  const root = host.attachShadow({ mode: "open" });
  root.appendChild(el("style", {}, CSS));
  const launcher = el("button", { class: "launcher", type: "button", "aria-label": "Open chat: " + title,
    "aria-expanded": "false", "aria-controls": "kc-panel" }, "?");
  const panel = el("section", { id: "kc-panel", class: "panel", role: "dialog", "aria-label": title,
    hidden: "" });
  const header = el("header");
  const reset = el("button", { type: "button", "aria-label": "Start a new conversation" }, "New");
  const close = el("button", { type: "button", "aria-label": "Close chat" }, "✕");
  header.append(el("h2", {}, title), reset, close);
  const log = el("div", { class: "log", role: "log", "aria-live": "polite" });
  const form = el("form");
  const input = el("input", { type: "text", "aria-label": "Your question", placeholder: "Ask a question…",
    autocomplete: "off", maxlength: "2000" });
  const send = el("button", { type: "submit" }, "Send");
  form.append(input, send);
  panel.append(header, log, form);
  root.append(launcher, panel);

  let conversationId = null;
  let busy = false;

  function greet() {
    const hint = "Ask a question: answers come from the documents, with their sources.";
    log.replaceChildren(el("p", { class: "hint" }, hint));
  }

  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", (open ? "Close chat: " : "Open chat: ") + title);
    if (open) input.focus(); else launcher.focus();
  }

  function add(node) {
    log.querySelector(".hint")?.remove();
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    return node;
  }

  function showError(message) {
    add(el("div", { class: "error", role: "alert" }, message));
  }

  async function errorMessage(response) {
    let message = "";
    try { message = (await response.json()).error.message || ""; } catch (e) { /* not our JSON */ }
    if (response.status === 401) {
      return "This page's key is not valid: it may have been revoked, or its account deactivated. " +
        "Tell whoever runs this page.";
    }
    if (response.status === 429) return message || "Too many questions: wait a minute and try again.";
    return message || "The knowledge service answered with an error (" + response.status + ").";
  }

  // Server-sent events: blocks of "event: ..." and "data: ..." lines, separated by a blank line.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = done ? "" : blocks.pop();
      for (const block of blocks) {
        let event = "message";
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(event, JSON.parse(data.join("\n")));
      }
      if (done) return;
    }
  }

  function sourceId(answerId, number) {
    return "kc-source-" + answerId + "-" + number;
  }

  function jumpTo(id) {
    const target = root.getElementById(id);
    if (!target) return;
    root.querySelectorAll(".sources li.target").forEach((li) => li.classList.remove("target"));
    target.classList.add("target");
    target.scrollIntoView({ block: "nearest", behavior: "smooth" });
    target.focus({ preventScroll: true });
  }

  function citationLink(answerId, number) {
    const id = sourceId(answerId, number);
    const link = el("a", { class: "cite", href: "#" + id }, "[" + number + "]");
    link.addEventListener("click", (event) => { event.preventDefault(); jumpTo(id); });
    return link;
  }

  // The answer as text nodes, with each [n] of a listed source as a link to it.
  function renderText(container, text, answerId, numbers) {
    container.replaceChildren();
    let last = 0;
    for (const match of text.matchAll(CITATION)) {
      const cited = match[1].split(",").map((n) => Number(n.trim()));
      if (!cited.every((n) => numbers.has(n))) continue;
      container.append(text.slice(last, match.index));
      cited.forEach((n) => container.append(citationLink(answerId, n)));
      last = match.index + match[0].length;
    }
    container.append(text.slice(last));
  }

  function snippet(text) {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > SNIPPET_CHARS ? flat.slice(0, SNIPPET_CHARS).trimEnd() + "…" : flat;
  }

  function renderSources(answer) {
    const heading = answer.sources.some((s) => s.cited) ? "Sources" : "Passages searched";
    const box = el("div", { class: "sources" });
    const list = el("ol", { "aria-label": heading });
    box.append(el("h3", {}, heading), list);
    for (const source of answer.sources) {
      const item = el("li", { id: sourceId(answer.answer_id, source.number), tabindex: "-1",
        class: source.cited ? "cited" : "uncited" });
      item.append(el("span", { class: "doc" }, "[" + source.number + "] " + source.document));
      if (source.location) item.append(el("span", { class: "where" }, " · " + source.location));
      if (source.cited) item.append(el("span", { class: "badge" }, "cited"));
      item.append(el("span", { class: "snippet" }, snippet(source.text)));
      list.appendChild(item);
    }
    return box;
  }

  function finish(bubble, text, answer) {
    bubble.classList.remove("streaming");
    if (answer.conversation_id) conversationId = answer.conversation_id;
    const numbers = new Set(answer.sources.map((s) => s.number));
    renderText(text, answer.answer, answer.answer_id, numbers);
    if (!answer.answered && answer.state === "done") {
      bubble.append(el("div", { class: "note" }, "The documents do not answer this."));
    }
    if (answer.answered && answer.confidence === "low") {
      bubble.append(el("div", { class: "note" }, "Low confidence: the sources only partly match. Check them."));
    }
    if (answer.incomplete) bubble.append(el("div", { class: "note" }, "The answer is incomplete."));
    if (answer.sources.length) bubble.append(renderSources(answer));
    if (answer.error && answer.state === "failed") showError("The answer failed: " + answer.error);
    log.scrollTop = log.scrollHeight;
  }

  async function ask(question) {
    add(el("div", { class: "msg user" }, question));
    if (!key) return showError("This widget has no key: add data-key to its script tag.");
    let response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: { "Authorization": "Bearer " + key, "Content-Type": "application/json" },
        body: JSON.stringify({ message: question, conversation_id: conversationId }),
      });
    } catch (e) {
      return showError("Could not reach the knowledge service at " + endpoint.origin +
        ". Check the connection and try again.");
    }
    if (!response.ok) return showError(await errorMessage(response));
    const bubble = add(el("div", { class: "msg bot streaming" }));
    const text = bubble.appendChild(el("div", { class: "text" }));
    let streamed = "";
    let ended = false;
    try {
      await readEvents(response, (event, data) => {
        if (event === "delta") {
          streamed += data.text;
          text.textContent = streamed;
          log.scrollTop = log.scrollHeight;
        } else if (event === "sources") {
          ended = true;
          finish(bubble, text, data);
        }
      });
    } catch (e) { /* the connection dropped: said below */ }
    if (!ended) {
      bubble.classList.remove("streaming");
      showError("The connection was lost before the answer was complete. Try again.");
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || busy) return;
    busy = send.disabled = true;
    input.value = "";
    try { await ask(question); } finally { busy = send.disabled = false; input.focus(); }
  });
  launcher.addEventListener("click", () => setOpen(panel.hidden));
  close.addEventListener("click", () => setOpen(false));
  reset.addEventListener("click", () => {
    if (busy) return;  // the answer being written still belongs to this conversation
    conversationId = null;
    greet();
    input.focus();
  });
  panel.addEventListener("keydown", (event) => { if (event.key === "Escape") setOpen(false); });

  greet();
  function mount() { document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
