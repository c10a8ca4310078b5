// Drag and drop onto a record's "Attach a file" form: the dropped file goes into the form's
// file input and the form is submitted as if the button were pressed (htmx posts it). Bound
// on the document, since the panel is swapped in and out by htmx.
(function () {
  "use strict";
  function zone(event) {
    return event.target instanceof Element ? event.target.closest("[data-dropzone]") : null;
  }
  document.addEventListener("dragover", function (event) {
    var form = zone(event);
    if (!form) return;
    event.preventDefault();
    form.classList.add("dragging");
  });
  document.addEventListener("dragleave", function (event) {
    var form = zone(event);
    if (form) form.classList.remove("dragging");
  });
  document.addEventListener("drop", function (event) {
    var form = zone(event);
    if (!form || !event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    form.classList.remove("dragging");
    var input = form.querySelector('input[type="file"]');
    input.files = event.dataTransfer.files;
    // A form swapped in a moment ago may not be htmx's yet: process it (a no-op when it is),
    // so the file is posted by htmx into the drawer, not by a page-replacing submit.
    if (window.htmx) window.htmx.process(form);
    form.requestSubmit();
  });
})();

// A file over the limit is refused here, before its bytes travel (the server refuses it too,
// with the same numbers, for a browser without this script).
(function () {
  "use strict";
  function refuse(form, input, file, limit) {
    const field = input.closest(".field");
    let error = field.querySelector(".field-error");
    if (!error) {
      error = document.createElement("p");
      error.className = "field-error";
      error.id = input.id + "-error";
      error.setAttribute("role", "alert");
      field.appendChild(error);
    }
    const n = (value) => value.toLocaleString("en-US");
    error.textContent =
      "The file is " + n(file.size) + " bytes: the limit is " + n(limit) + " bytes.";
    field.classList.add("has-error");
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", error.id);
  }
  document.addEventListener(
    "submit",
    function (event) {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.matches("[data-dropzone]")) return;
      const input = form.querySelector("input[type=file][data-max-bytes]");
      const file = input && input.files && input.files[0];
      const limit = input ? Number(input.dataset.maxBytes) : 0;
      if (file && limit && file.size > limit) {
        // Capturing, on the document: before htmx (on the form) sends anything.
        event.preventDefault();
        event.stopImmediatePropagation();
        refuse(form, input, file, limit);
      }
    },
    true
  );
})();
