// Parley's progressive enhancement. Every page works without it (plain links and forms);
// with it, branch switching happens without a reload and imports show their progress.
// It never builds HTML from strings: it moves nodes the server rendered and sets text.
"use strict";

(function () {
  function replaceConversation(doc) {
    var fresh = doc.getElementById("conversation");
    var current = document.getElementById("conversation");
    if (!fresh || !current) {
      return false;
    }
    current.replaceWith(document.adoptNode(fresh));
    return true;
  }

  function switchBranch(url, anchor, push) {
    return fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        if (!replaceConversation(doc)) {
          throw new Error("no conversation in the answer");
        }
        if (push) {
          history.pushState({ parleyBranch: true }, "", url);
        }
        var target = anchor && document.getElementById(anchor);
        if (target) {
          target.scrollIntoView({ block: "nearest" });
        }
        document.dispatchEvent(new CustomEvent("parley:branch", { detail: { url: url } }));
      });
  }

  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element && event.target.closest("a.branch");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey) {
      return;
    }
    event.preventDefault();
    var url = new URL(link.href, location.href);
    var anchor = decodeURIComponent(url.hash.slice(1));
    url.hash = "";
    switchBranch(url.toString(), anchor, true).catch(function () {
      location.href = link.href; // fall back to the plain link
    });
  });

  window.addEventListener("popstate", function () {
    if (document.getElementById("conversation")) {
      switchBranch(location.href, null, false).catch(function () {
        location.reload();
      });
    }
  });

  // Import upload: send the file to the JSON API and follow the job until it ends.
  function followJob(statusUrl, output) {
    fetch(statusUrl, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (job) {
        var done = job.conversations_done || 0;
        output.textContent = "Import " + job.state + ": " + done + " conversations";
        if (job.state === "queued" || job.state === "running") {
          setTimeout(function () { followJob(statusUrl, output); }, 1000);
        } else if (job.state === "done") {
          output.textContent += " (reload to see them)";
        } else if (job.error) {
          output.textContent += " — " + job.error;
        }
      })
      .catch(function () {
        output.textContent = "Lost track of the import; reload the page to see its state.";
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("import-form")) {
      return;
    }
    var output = form.querySelector(".import-status");
    if (!window.fetch || !output) {
      return;
    }
    event.preventDefault();
    output.textContent = "Uploading…";
    fetch("/api/import", {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-CSRF-Token": form.dataset.csrf || "" },
    })
      .then(function (response) {
        return response.json().then(function (body) { return [response, body]; });
      })
      .then(function (pair) {
        if (!pair[0].ok) {
          output.textContent = "Upload failed: " + (pair[1].detail || pair[0].status);
          return;
        }
        output.textContent = "Import queued";
        followJob(pair[1].status_url, output);
      })
      .catch(function () {
        output.textContent = "Upload failed; try again.";
      });
  });
})();
