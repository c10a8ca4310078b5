// What every page shares: how HTMX treats the server's answers, once for the whole site.
(function () {
  "use strict";

  if (!window.htmx) return;

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
