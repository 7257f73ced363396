// A form marked data-once is sent once: a second press while the first request is on its way
// would reach the server as a second request, and the person would read its answer ("already
// signed") instead of their own result. Reset when the page is shown again (the back button).
document.querySelectorAll("form[data-once]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    if (form.dataset.sent) {
      event.preventDefault();
      return;
    }
    form.dataset.sent = "1";
    form.setAttribute("aria-busy", "true");
  });
  window.addEventListener("pageshow", function () {
    delete form.dataset.sent;
    form.removeAttribute("aria-busy");
  });
});
