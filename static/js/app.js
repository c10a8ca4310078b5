// What every page shares, once for the whole site: the rich-text editor, and how HTMX
// treats the server's answers.
(function () {
  "use strict";

  // A small rich-text editor over the description's textarea; the server sanitises what
  // it receives, so this only needs to produce reasonable HTML.
  const RICH_TOOLS = [
    ["bold", "B", "Bold"],
    ["italic", "I", "Italic"],
    ["insertUnorderedList", "•", "Bulleted list"],
    ["insertOrderedList", "1.", "Numbered list"],
    ["createLink", "Link", "Link"],
  ];

  function initRichText(root) {
    root.querySelectorAll("textarea[data-rich-text]").forEach(function (textarea) {
      if (textarea.dataset.richReady) return;
      textarea.dataset.richReady = "on";
      const toolbar = document.createElement("div");
      toolbar.className = "rich-toolbar";
      toolbar.setAttribute("role", "toolbar");
      const editor = document.createElement("div");
      editor.className = "rich-editor rich-text";
      editor.contentEditable = "true";
      editor.setAttribute("role", "textbox");
      editor.setAttribute("aria-multiline", "true");
      // Named after what it edits (a comment says data-rich-label="Comment").
      editor.setAttribute("aria-label", textarea.dataset.richLabel || "Description");
      editor.innerHTML = textarea.value;
      RICH_TOOLS.forEach(function (tool) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = tool[1];
        button.title = tool[2];
        button.setAttribute("aria-label", tool[2]);
        button.addEventListener("mousedown", function (event) {
          event.preventDefault(); // keep the editor's selection
        });
        button.addEventListener("click", function () {
          editor.focus();
          const value = tool[0] === "createLink" ? window.prompt("Link address (https://…)") : null;
          if (tool[0] === "createLink" && !value) return;
          document.execCommand(tool[0], false, value);
          textarea.value = editor.innerHTML;
        });
        toolbar.appendChild(button);
      });
      editor.addEventListener("input", function () {
        textarea.value = editor.innerHTML;
      });
      textarea.hidden = true;
      textarea.after(toolbar, editor);
    });
  }

  // Every description field (data-rich-text) gets the same editor, on pages and in swaps.
  initRichText(document);
  document.addEventListener("htmx:afterSettle", function () {
    initRichText(document);
  });

  // A "Select all" box checks every box of its class in its form ([data-select-all]).
  document.addEventListener("change", function (event) {
    const box = event.target.closest ? event.target.closest("input[data-select-all]") : null;
    if (!box || !box.form) return;
    box.form.querySelectorAll("input." + box.dataset.selectAll).forEach(function (input) {
      input.checked = box.checked;
    });
  });

  if (!window.htmx) return;

  // A dialog swapped in by HTMX ([data-modal], a send's preview) opens as a modal: the page
  // behind waits for its Send or Cancel (Cancel is a method="dialog" form, no request).
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("dialog[data-modal]:not([open])").forEach(function (dialog) {
      dialog.removeAttribute("data-modal");
      dialog.showModal();
    });
  });

  // A form with errors comes back as 400 or 422, re-rendered with its messages: swap it in
  // like a 200, or the button looks dead. Every other 4xx/5xx is not swapped (it would put a
  // whole error page inside a fragment): it raises htmx:responseError, handled below.
  window.htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "^(400|422)$", swap: true, error: false },
    { code: "[45]..", swap: false, error: true },
  ];

  function showError(text) {
    const box = document.getElementById("messages");
    if (!box) return;
    const list = document.createElement("ul");
    list.className = "messages";
    list.setAttribute("role", "alert");
    const item = document.createElement("li");
    item.className = "message error";
    item.textContent = text;
    list.appendChild(item);
    box.replaceChildren(list);
  }

  // Error pages carry their reason in [data-error-reason] (templates/403.html and the rest).
  function reasonFrom(xhr) {
    try {
      const doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      const node = doc.querySelector("[data-error-reason]");
      return node ? node.textContent.trim() : "";
    } catch (error) {
      return "";
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    const reason = reasonFrom(xhr);
    if (xhr.status >= 500) {
      showError("Something went wrong on the server (" + xhr.status + "); try again. " +
        "If it keeps happening, tell whoever runs aharally.");
    } else {
      showError(reason || "That could not be done (" + xhr.status + ").");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showError("The server did not answer: check your connection, then try again.");
  });

  // A fresh answer replaces an error shown for an earlier one.
  document.addEventListener("htmx:beforeRequest", function () {
    const box = document.getElementById("messages");
    if (box && box.querySelector('[role="alert"]')) box.replaceChildren();
  });
})();
