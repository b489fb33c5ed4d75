// Starts Redoc on the definition the server chose; kept out of the page so the CSP forbids inline script.
(function () {
  var root = document.getElementById("redoc");
  Redoc.init(root.dataset.specUrl, { hideDownloadButton: false, expandResponses: "200,201" }, root);
})();
