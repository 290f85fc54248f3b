// veille: what progressive enhancement adds to the server-rendered pages. Every page works without it.
// No inline script anywhere (the Content-Security-Policy allows none): behaviour is wired from data-* attributes.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // <button data-confirm="Remove Kyutai?">: ask before the form is sent (the server asks again without JavaScript)
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
});
