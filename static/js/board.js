// The features board: drag and keyboard moves, selection for bulk actions, the drawer.
// Everything here improves pages that already work as plain links and forms.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  const page = document.getElementById("board-page");
  const canEdit = page && page.dataset.canEdit === "true";
  let lastDragEnd = 0;
  let activeCard = null;
  let dialogCard = null;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function announce(text) {
    const region = document.getElementById("board-announcer");
    if (region) region.textContent = text;
  }

  function flash(text, level) {
    const box = document.getElementById("bulk-result");
    if (!box) return;
    const p = document.createElement("p");
    p.className = "flash " + level;
    p.setAttribute("role", level === "error" ? "alert" : "status");
    p.textContent = text;
    box.replaceChildren(p);
  }

  function refreshBoard() {
    document.body.dispatchEvent(new CustomEvent("board:refresh", { bubbles: true }));
  }

  function siblingCard(card, direction) {
    let node = direction < 0 ? card.previousElementSibling : card.nextElementSibling;
    while (node && !node.classList.contains("card")) {
      node = direction < 0 ? node.previousElementSibling : node.nextElementSibling;
    }
    return node;
  }

  function updateCounts() {
    document.querySelectorAll("#board-columns .column").forEach(function (column) {
      const count = column.querySelector("[data-column-count]");
      if (count) count.textContent = column.querySelectorAll(".card").length;
      const estimate = column.querySelector("[data-column-estimate]");
      if (estimate) {
        let total = 0;
        column.querySelectorAll(".card[data-estimate]").forEach(function (card) {
          total += parseFloat(card.dataset.estimate);
        });
        // As the server renders it (floatformat:"-2"): 5 or 5.50.
        const rounded = Math.round(total * 100) / 100;
        estimate.querySelector("[data-column-estimate-total]").textContent =
          Number.isInteger(rounded) ? String(rounded) : rounded.toFixed(2);
        estimate.hidden = total === 0;
      }
    });
  }

  // Moves: the server places the card right after its new previous neighbour
  // (or before its next one), so hidden cards of a filtered board keep their places.
  async function persistMove(card) {
    const list = card.parentElement;
    const previous = siblingCard(card, -1);
    const next = siblingCard(card, 1);
    const body = new FormData();
    body.set("feature", card.dataset.id);
    body.set("release", list.dataset.release);
    body.set("after", previous ? previous.dataset.id : "");
    body.set("before", next ? next.dataset.id : "");
    card.classList.add("is-saving");
    updateCounts();
    try {
      const response = await fetch(page.dataset.moveUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      });
      const data = await response.json().catch(function () {
        return {};
      });
      if (!response.ok) throw new Error(data.error || "The move could not be saved.");
      announce("Moved " + card.dataset.reference + " to " + data.release_name + ".");
    } catch (error) {
      flash(error.message + " The board has been reloaded.", "error");
      refreshBoard();
    } finally {
      card.classList.remove("is-saving");
    }
  }

  function focusCard(card) {
    const link = card.querySelector(".card-link");
    if (link) link.focus();
    card.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function stepMove(card, step) {
    const list = card.parentElement;
    if (step === "up" || step === "top") {
      const target = step === "up" ? siblingCard(card, -1) : list.querySelector(".card");
      if (!target || target === card) return;
      list.insertBefore(card, target);
    } else if (step === "down") {
      const next = siblingCard(card, 1);
      if (!next) return;
      list.insertBefore(card, next.nextSibling);
    } else if (step === "bottom") {
      if (!siblingCard(card, 1)) return;
      list.appendChild(card);
    } else if (step === "left" || step === "right") {
      const lists = Array.from(document.querySelectorAll("#board-columns .cards"));
      const target = lists[lists.indexOf(list) + (step === "left" ? -1 : 1)];
      if (!target) return;
      target.appendChild(card);
    }
    focusCard(card);
    persistMove(card);
  }

  function moveToRelease(card, releaseId) {
    const target = document.querySelector('#board-columns .cards[data-release="' + releaseId + '"]');
    if (!target || target === card.parentElement) return;
    target.appendChild(card);
    focusCard(card);
    persistMove(card);
  }

  function initSortables() {
    if (!canEdit || !window.Sortable) return;
    document.querySelectorAll("#board-columns .cards").forEach(function (list) {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "on";
      window.Sortable.create(list, {
        group: "board",
        animation: 120,
        draggable: ".card",
        // Mouse-event dragging: smoother than native drag images and the same in every browser.
        forceFallback: true,
        fallbackTolerance: 4,
        filter: ".card-select, .card-move",
        preventOnFilter: false,
        ghostClass: "card-ghost",
        chosenClass: "card-chosen",
        dragClass: "card-drag",
        onEnd: function (event) {
          lastDragEnd = Date.now();
          if (event.from === event.to && event.oldIndex === event.newIndex) return;
          persistMove(event.item);
        },
      });
    });
  }

  // Selection and the bulk bar. The ids are remembered here so that a card re-rendered
  // (after an edit in the drawer, or a board refresh) stays selected.
  const selected = new Set();

  function restoreSelection() {
    const present = new Set();
    document.querySelectorAll("#board-columns .card-select").forEach(function (box) {
      box.checked = selected.has(box.value);
      present.add(box.value);
    });
    selected.forEach(function (id) {
      if (!present.has(id)) selected.delete(id);
    });
    updateSelection();
  }

  function updateSelection() {
    document.querySelectorAll("#board-columns .card.is-selected").forEach(function (card) {
      card.classList.remove("is-selected");
    });
    document.querySelectorAll("#board-columns .card-select:checked").forEach(function (box) {
      box.closest(".card").classList.add("is-selected");
    });
    showSelectionCount();
  }

  // One box ticked: that card and the count change, not every card (ticking a thousand
  // boxes one by one would otherwise go over the whole board a thousand times).
  function updateOneSelection(box) {
    box.closest(".card").classList.toggle("is-selected", box.checked);
    showSelectionCount();
  }

  function showSelectionCount() {
    const bar = document.getElementById("bulk-form");
    if (!bar) return;
    bar.querySelector("[data-selected-count]").textContent = selected.size;
    bar.classList.toggle("is-active", selected.size > 0);
    page.classList.toggle("has-selection", selected.size > 0);
  }

  function showBulkFields() {
    const choice = document.getElementById("bulk-action");
    if (!choice) return;
    document.querySelectorAll("[data-bulk-fields]").forEach(function (fieldset) {
      const on = fieldset.dataset.bulkFields === choice.value;
      fieldset.hidden = !on;
      fieldset.disabled = !on;
    });
  }

  // The drawer.
  const drawer = document.getElementById("drawer");
  const backdrop = document.getElementById("drawer-backdrop");

  function openDrawer(url, card) {
    if (activeCard) activeCard.classList.remove("is-open");
    activeCard = card;
    card.classList.add("is-open");
    drawer.hidden = false;
    backdrop.hidden = false;
    drawer.setAttribute("aria-busy", "true");
    window.htmx.ajax("GET", url, { target: "#drawer", swap: "innerHTML" }).then(function () {
      drawer.removeAttribute("aria-busy");
      const title = document.getElementById("drawer-title");
      if (title) title.focus();
    });
  }

  function closeDrawer() {
    if (!drawer || drawer.hidden) return false;
    drawer.hidden = true;
    backdrop.hidden = true;
    drawer.replaceChildren();
    if (activeCard) {
      activeCard.classList.remove("is-open");
      const fresh = document.getElementById(activeCard.id);
      if (fresh) focusCard(fresh);
    }
    activeCard = null;
    return true;
  }

  document.addEventListener("click", function (event) {
    const link = event.target.closest("#board-columns .card-link");
    if (link && drawer && window.htmx) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      if (Date.now() - lastDragEnd < 300) return; // the click that ends a drag
      openDrawer(link.href, link.closest(".card"));
      return;
    }
    if (event.target.closest("[data-close-drawer]") && drawer) {
      event.preventDefault();
      closeDrawer();
      return;
    }
    const moveButton = event.target.closest("[data-move]");
    if (moveButton) {
      const dialog = document.getElementById("move-dialog");
      dialogCard = moveButton.closest(".card");
      dialog.querySelector("[data-move-reference]").textContent = dialogCard.dataset.reference;
      dialog.querySelector("[data-move-release]").value = dialogCard.parentElement.dataset.release;
      dialog.showModal();
      return;
    }
    const step = event.target.closest("[data-move-step]");
    if (step && dialogCard) {
      document.getElementById("move-dialog").close();
      stepMove(dialogCard, step.dataset.moveStep);
      return;
    }
    if (event.target.closest("[data-move-to-release]") && dialogCard) {
      const dialog = document.getElementById("move-dialog");
      dialog.close();
      moveToRelease(dialogCard, dialog.querySelector("[data-move-release]").value);
      return;
    }
    if (event.target.closest("[data-clear-selection]")) {
      selected.clear();
      restoreSelection();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches(".card-select")) {
      if (event.target.checked) selected.add(event.target.value);
      else selected.delete(event.target.value);
      updateOneSelection(event.target);
    }
    if (event.target.id === "bulk-action") showBulkFields();
    if (event.target.matches("[data-autosubmit]") && event.target.form) {
      event.target.form.requestSubmit();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !document.querySelector("dialog[open]") && closeDrawer()) {
      event.preventDefault();
      return;
    }
    if (!canEdit || !event.altKey) return;
    const card = event.target.closest && event.target.closest("#board-columns .card");
    const step = { ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right" }[
      event.key
    ];
    if (!card || !step) return;
    event.preventDefault();
    stepMove(card, step);
  });

  document.addEventListener("close", function (event) {
    if (event.target.id === "move-dialog" && dialogCard) {
      const fresh = document.getElementById(dialogCard.id);
      if (fresh) focusCard(fresh);
    }
  }, true);

  // The selection goes as one comma-separated field, not one field a card: Django refuses a
  // form of more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields before the bulk action could say
  // its own limit (MAX_SELECTION, 5,000 features).
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.id !== "bulk-form") return;
    const form = event.detail.formData;
    const ids = form.getAll("ids");
    form.delete("ids");
    form.set("ids", ids.join(","));
  });

  document.body.addEventListener("htmx:afterRequest", function (event) {
    // A bulk action that was applied empties the selection; a refused one keeps it.
    if (event.detail.elt.id === "bulk-form" && event.detail.xhr.status === 200) {
      selected.clear();
    }
  });

  // A card re-rendered after a drawer edit may bring a new estimate: re-total its column.
  document.body.addEventListener("htmx:oobAfterSwap", function () {
    restoreSelection();
    updateCounts();
  });

  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.id === "board-columns") {
      initSortables();
      restoreSelection();
      if (activeCard) {
        const fresh = document.getElementById(activeCard.id);
        if (fresh) fresh.classList.add("is-open");
        activeCard = fresh || activeCard;
      }
    }
  });

  initSortables();
  // The browser may have restored checked boxes (back button): start from what is shown.
  document.querySelectorAll("#board-columns .card-select:checked").forEach(function (box) {
    selected.add(box.value);
  });
  updateSelection();
  showBulkFields();
})();
