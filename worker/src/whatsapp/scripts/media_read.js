// Reads the file of a media row from inside the page (contract section 11: a `fetch` of the
// row's `blob:` URL while the row is shown), in pieces that each fit one WebDriver answer. An
// asynchronous script: the callback is the last argument; `arguments[0]` is the request:
// - `{op: "open", url, max}`: fetch the blob and keep it under a new key; answers `{key, size,
//   type}`, or `{size, type, tooLarge: true}` (nothing kept) when it is larger than `max`
//   bytes, or `{error}`;
// - `{op: "read", key, offset, length}`: answers `{base64}` of those bytes, or `{error}`;
// - `{op: "close", key}`: forgets the blob.
// A page load drops whatever was kept.
const request = arguments[0];
const done = arguments[arguments.length - 1];
const kept = (window.__wamuxBlobs = window.__wamuxBlobs || new Map());
const fail = (e) => done({ error: String((e && e.message) || e) });
try {
  if (request.op === 'open') {
    fetch(request.url)
      .then((response) => {
        if (!response.ok) throw new Error('the blob answered ' + response.status);
        return response.blob();
      })
      .then((blob) => {
        if (blob.size > request.max) {
          done({ size: blob.size, type: blob.type, tooLarge: true });
          return;
        }
        const key = 'm' + Date.now().toString(36) + Math.random().toString(36).slice(2);
        kept.set(key, blob);
        done({ key, size: blob.size, type: blob.type });
      })
      .catch(fail);
  } else if (request.op === 'read') {
    const blob = kept.get(request.key);
    if (!blob) {
      done({ error: 'the file is no longer in the page' });
    } else {
      const reader = new FileReader();
      reader.onload = () => {
        const url = String(reader.result);
        done({ base64: url.slice(url.indexOf(',') + 1) });
      };
      reader.onerror = () => fail(reader.error);
      reader.readAsDataURL(blob.slice(request.offset, request.offset + request.length));
    }
  } else {
    kept.delete(request.key);
    done(true);
  }
} catch (e) {
  fail(e);
}
