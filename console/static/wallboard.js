// The wallboard follows the console's Server-Sent Events: each `board` event carries the
// board's HTML, swapped in whole. Durations tick here between two events. The browser's
// EventSource reconnects by itself (every 2 s, the server's `retry`).
(function () {
  "use strict";
  var board = document.getElementById("board");
  var link = document.getElementById("wb-link");
  if (!board) { return; }
  var received = Date.now();

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function mmss(total) {
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }
  function tick() {
    var elapsed = Math.floor((Date.now() - received) / 1000);
    board.querySelectorAll("[data-tick]").forEach(function (el) {
      el.textContent = mmss(parseInt(el.getAttribute("data-tick"), 10) + elapsed);
    });
  }
  setInterval(tick, 1000);

  var url = board.getAttribute("data-events");
  if (!url || !window.EventSource) { return; }
  var events = new EventSource(url);
  events.addEventListener("board", function (event) {
    board.innerHTML = event.data;
    received = Date.now();
    if (link) { link.hidden = true; }
  });
  events.addEventListener("error", function () {
    if (link) { link.hidden = false; }
  });
})();
