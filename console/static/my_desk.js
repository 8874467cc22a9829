// "Bàn của tôi" follows the console's Server-Sent Events: each `panel` event carries the
// panel's HTML (the desk's call and its caller's past), swapped in whole. The browser's
// EventSource reconnects by itself (every 2 s, the server's `retry`).
(function () {
  "use strict";
  var panel = document.getElementById("desk-panel");
  var link = document.getElementById("desk-link");
  if (!panel) { return; }
  var url = panel.getAttribute("data-events");
  if (!url || !window.EventSource) { return; }
  var events = new EventSource(url);
  events.addEventListener("panel", function (event) {
    panel.innerHTML = event.data;
    if (link) { link.hidden = true; }
  });
  events.addEventListener("error", function () {
    if (link) { link.hidden = false; }
  });
})();
