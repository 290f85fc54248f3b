// veille: what progressive enhancement adds to the server-rendered pages. Every page works without it.
// No inline script anywhere (the Content-Security-Policy allows none): behaviour is wired from data-* attributes.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // <button data-confirm="Remove Kyutai?">: ask before the form is sent (the server asks again without JavaScript)
  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); return; }
      // data-confirmed="NAME": the form also sends NAME=yes, so the server does not ask a second time
      var name = button.getAttribute("data-confirmed");
      if (name && button.form && !button.form.querySelector("input[name='" + name + "']")) {
        var field = document.createElement("input");
        field.type = "hidden"; field.name = name; field.value = "yes";
        button.form.appendChild(field);
      }
    });
  });
});
