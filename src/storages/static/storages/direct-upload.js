/*
 * django-stowage direct uploads: send a file from the page straight to S3, Google Cloud
 * Storage or Azure, with a progress bar, then put only the signed token in the form.
 *
 * No dependencies. Every element with [data-direct-upload] (rendered by DirectUploadWidget)
 * works, including admin inline rows added later: events are handled on the document.
 * XMLHttpRequest is used rather than fetch because only it reports upload progress.
 */
(function () {
  "use strict";

  var CORS_HINT =
    "The browser blocked the request before the service answered. This is most likely the " +
    "storage's CORS configuration: it must allow this site's origin (" + window.location.origin +
    ") and the upload's methods and headers. See the CORS section of the direct uploads " +
    "documentation (docs/direct-uploads.md).";
  var PART_CONCURRENCY = 3;

  function UploadError(message) {
    this.name = "UploadError";
    this.message = message;
  }
  UploadError.prototype = Object.create(Error.prototype);

  function csrfToken(form) {
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) { return input.value; }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // One request; resolves with the XHR whatever its status, rejects only when no answer came.
  function send(method, url, headers, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url, true);
      Object.keys(headers || {}).forEach(function (name) {
        xhr.setRequestHeader(name, headers[name]);
      });
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = function (event) { onProgress(event.loaded); };
      }
      xhr.onload = function () { resolve(xhr); };
      xhr.onerror = function () {
        var host = url.split("/").slice(0, 3).join("/");
        reject(new UploadError("Uploading to " + host + " failed. " + CORS_HINT));
      };
      xhr.send(body === undefined ? null : body);
    });
  }

  function check(xhr, okStatuses) {
    if (okStatuses.indexOf(xhr.status) >= 0) { return xhr; }
    var text = (xhr.responseText || "").replace(/\s+/g, " ").slice(0, 300);
    throw new UploadError("The service refused the upload (HTTP " + xhr.status + "): " + text);
  }

  function Progress(total, show) {
    var loaded = {};
    this.report = function (id, bytes) {
      loaded[id] = bytes;
      var sum = 0;
      Object.keys(loaded).forEach(function (k) { sum += loaded[k]; });
      show(total ? Math.min(sum / total, 1) : 1);
    };
  }

  function s3Post(grant, file, progress) {
    var form = new FormData();
    Object.keys(grant.fields).forEach(function (name) { form.append(name, grant.fields[name]); });
    form.append("file", file);  // S3 ignores every field after the file
    return send("POST", grant.url, {}, form, function (n) { progress.report(0, n); })
      .then(function (xhr) { return check(xhr, [200, 201, 204]); });
  }

  // Run task(i) for i in 0..count-1, at most `limit` at a time.
  function pool(count, limit, task) {
    var next = 0;
    function worker() {
      if (next >= count) { return Promise.resolve(); }
      var index = next++;
      return task(index).then(worker);
    }
    var workers = [];
    for (var i = 0; i < Math.min(limit, count); i++) { workers.push(worker()); }
    return Promise.all(workers);
  }

  function s3Multipart(grant, file, progress) {
    // The server completes the upload when the form comes back (after checking the parts).
    return pool(grant.parts.length, PART_CONCURRENCY, function (i) {
      var part = grant.parts[i];
      var start = (part.number - 1) * grant.part_size;
      var blob = file.slice(start, start + grant.part_size);
      return send("PUT", part.url, {}, blob, function (n) { progress.report(i, n); })
        .then(function (xhr) { check(xhr, [200]); });
    });
  }

  function gcsResumable(grant, file, progress) {
    return send("POST", grant.url, grant.headers, null).then(function (xhr) {
      check(xhr, [200, 201]);
      var session = xhr.getResponseHeader("Location");
      if (!session) {
        throw new UploadError(
          "The upload session started but its address was hidden from the page: add " +
          "\"Location\" to the responseHeader list of the bucket's CORS configuration " +
          "(docs/direct-uploads.md)."
        );
      }
      var chunk = grant.chunk_size || file.size || 1;
      var total = file.size;
      function put(offset) {
        var end = Math.min(offset + chunk, total);
        var headers = {"Content-Type": grant.content_type};
        if (total > 0) {
          headers["Content-Range"] = "bytes " + offset + "-" + (end - 1) + "/" + total;
        }
        return send("PUT", session, headers, file.slice(offset, end), function (n) {
          progress.report(0, offset + n);
        }).then(function (xhr) {
          // 308: the service wants the next chunk.
          if (xhr.status === 308 && end < total) { return put(end); }
          return check(xhr, [200, 201]);
        });
      }
      return put(0);
    });
  }

  function azureBlob(grant, file, progress) {
    return send("PUT", grant.url, grant.headers, file, function (n) { progress.report(0, n); })
      .then(function (xhr) { return check(xhr, [201]); });
  }

  function blockId(index) {
    // Every block id of a blob must have the same length.
    return btoa(("00000" + index).slice(-6));
  }

  function azureBlocks(grant, file, progress) {
    var size = grant.block_size;
    var count = Math.max(1, Math.ceil(file.size / size));
    return pool(count, PART_CONCURRENCY, function (i) {
      var url = grant.url + "&comp=block&blockid=" + encodeURIComponent(blockId(i));
      var blob = file.slice(i * size, (i + 1) * size);
      return send("PUT", url, {}, blob, function (n) { progress.report(i, n); })
        .then(function (xhr) { check(xhr, [201]); });
    }).then(function () {
      var ids = [];
      for (var i = 0; i < count; i++) { ids.push("<Latest>" + blockId(i) + "</Latest>"); }
      var body = '<?xml version="1.0" encoding="utf-8"?><BlockList>' + ids.join("") +
        "</BlockList>";
      return send("PUT", grant.url + "&comp=blocklist", grant.headers, body)
        .then(function (xhr) { return check(xhr, [201]); });
    });
  }

  var PROTOCOLS = {
    "s3-post": s3Post,
    "s3-multipart": s3Multipart,
    "gcs-resumable": gcsResumable,
    "azure-blob": azureBlob,
    "azure-blocks": azureBlocks
  };

  function requestGrant(box, file) {
    var body = JSON.stringify({
      field: box.getAttribute("data-field"),
      filename: file.name,
      size: file.size,
      content_type: file.type || ""
    });
    var headers = {"Content-Type": "application/json", "X-CSRFToken": csrfToken(box.closest("form"))};
    return send("POST", box.getAttribute("data-grant-url"), headers, body).then(function (xhr) {
      var answer;
      try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = {}; }
      if (xhr.status !== 200) {
        throw new UploadError(answer.error || ("The site refused the upload (HTTP " + xhr.status + ")."));
      }
      return answer;
    });
  }

  function upload(box, file) {
    var parts = {
      token: box.querySelector("[data-role=token]"),
      progress: box.querySelector("[data-role=progress]"),
      status: box.querySelector("[data-role=status]")
    };
    function setState(state, message) {
      box.setAttribute("data-state", state);
      parts.status.textContent = message;
    }
    parts.token.value = "";
    parts.progress.hidden = false;
    parts.progress.value = 0;
    setState("uploading", "Uploading " + file.name + " ...");
    var show = function (fraction) { parts.progress.value = Math.round(fraction * 100); };
    return requestGrant(box, file).then(function (grant) {
      var protocol = PROTOCOLS[grant.protocol];
      if (!protocol) { throw new UploadError("Unknown upload protocol " + grant.protocol + "."); }
      return protocol(grant, file, new Progress(file.size, show)).then(function () { return grant; });
    }).then(function (grant) {
      parts.token.value = grant.token;
      show(1);
      setState("done", "Uploaded " + file.name + ".");
    }).catch(function (error) {
      parts.progress.value = 0;
      setState("error", error.message || String(error));
    });
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("[data-direct-upload] input[data-role=file]")) { return; }
    var box = input.closest("[data-direct-upload]");
    if (input.files && input.files.length) { upload(box, input.files[0]); }
  });

  // A form submitted while a file is still on its way would lose it: wait for the upload.
  document.addEventListener("submit", function (event) {
    var busy = event.target.querySelector && event.target.querySelector("[data-direct-upload][data-state=uploading]");
    if (busy) {
      event.preventDefault();
      busy.querySelector("[data-role=status]").textContent =
        "Please wait until the upload has finished, then submit again.";
    }
  }, true);

  window.StowageDirectUpload = {upload: upload, protocols: PROTOCOLS};
})();
