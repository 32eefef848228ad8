// Runs are in progress: reload the page to show how they are doing, unless the user is
// filling in a form on it.
(function () {
  var touched = false;
  document.addEventListener("input", function () { touched = true; });
  function check() {
    var focused = document.activeElement;
    if (touched || (focused && focused.form)) { setTimeout(check, 3000); return; }
    window.location.reload();
  }
  setTimeout(check, 2000);
})();
