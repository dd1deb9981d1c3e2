#!/usr/bin/env python3
"""Drives headless Chromium for the dashboard test (DashboardTests) over the DevTools
protocol on a pipe (--remote-debugging-pipe: commands on fd 3, answers on fd 4, each a JSON
text ended by NUL). Standard library only.

Usage: browser.py URL [WIDTH HEIGHT]. Loads URL, prints {"ok": true, "loaded": URL}, then
takes one JSON command per line on stdin and answers one JSON line on stdout:
  {"cmd": "eval", "expr": JS}                        -> {"ok": true, "value": ...}
  {"cmd": "wait", "expr": JS, "timeout": seconds}    -> the first truthy value, or ok false
  {"cmd": "viewport", "width": W, "height": H, "mobile": bool}
  {"cmd": "screenshot", "path": FILE}                -> a PNG of the whole page
  {"cmd": "pixel", "x": X, "y": Y}                   -> [r, g, b] of the page's pixel at (X, Y), CSS px
  {"cmd": "languages", "accept": "vi-VN,vi"}         -> the languages the browser asks for (reload after)
  {"cmd": "requests"}                                -> every URL the page asked for
  {"cmd": "quit"}
Any failure is {"ok": false, "error": "..."}; the browser is killed when stdin closes.
"""
import base64, json, os, shutil, struct, subprocess, sys, tempfile, time, zlib


def png_pixel(data):
    """The colour of a 1 x 1 PNG (8-bit RGB or RGBA). With one pixel, every PNG filter leaves
    the bytes as they are (its neighbours are all zero)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour = header[:4]
    assert (width, height, depth) == (1, 1, 8) and colour in (2, 6), f"unexpected PNG {header}"
    raw = zlib.decompress(idat)
    return list(raw[1:4])


class Browser:
    def __init__(self, width, height):
        exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if not exe:
            raise SystemExit("browser.py: no chromium on PATH (Debian package 'chromium')")
        self.profile = tempfile.mkdtemp(prefix="collector-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def wire():  # in the child: the protocol pipes become fds 3 and 4 (via 100 and 101,
            os.dup2(to_chrome_r, 100)   # so neither overwrites the other on the way)
            os.dup2(from_chrome_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile, "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", "--mute-audio",
             "--hide-scrollbars", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.profile, "chromium.log"), "w"),
            preexec_fn=wire, pass_fds=(3, 4))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0
        self.requests = []
        self.session = None
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page.enable", "Network.enable", "Runtime.enable"):
            self.call(domain)

    def call(self, method, params=None, timeout=30):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def read(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not answer in time")
            chunk = os.read(self.from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buffer += chunk
        text, self.buffer = self.buffer.split(b"\0", 1)
        message = json.loads(text)
        if message.get("method") == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        return message

    def navigate(self, url):
        self.call("Page.navigate", {"url": url})
        self.wait("document.readyState === 'complete'", 30)

    def evaluate(self, expr):
        result = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError("script error: " + json.dumps(result["exceptionDetails"].get("exception", {}).get("description")
                                                           or result["exceptionDetails"].get("text")))
        return result["result"].get("value")

    def wait(self, expr, timeout):
        deadline, last_error = time.monotonic() + timeout, ""
        while True:
            try:  # a page being (re)loaded may not have its elements yet
                value = self.evaluate(f"(v => v instanceof Node ? true : v)({expr})")  # an element is truthy
                if value:
                    return value
            except RuntimeError as e:
                last_error = f" (last: {e})"
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout}s waiting for: {expr}{last_error}")
            time.sleep(0.1)

    def close(self):
        try:
            self.proc.kill()
            self.proc.wait(10)
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def main():
    url = sys.argv[1]
    width, height = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (1280, 800)
    browser = Browser(width, height)

    def answer(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    try:
        browser.navigate(url)
        answer({"ok": True, "loaded": url})
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                cmd = json.loads(line)
                kind = cmd["cmd"]
                if kind == "eval":
                    answer({"ok": True, "value": browser.evaluate(cmd["expr"])})
                elif kind == "wait":
                    answer({"ok": True, "value": browser.wait(cmd["expr"], float(cmd.get("timeout", 20)))})
                elif kind == "viewport":
                    browser.call("Emulation.setDeviceMetricsOverride", {
                        "width": cmd["width"], "height": cmd["height"], "deviceScaleFactor": 1,
                        "mobile": bool(cmd.get("mobile"))})
                    answer({"ok": True})
                elif kind == "screenshot":
                    shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
                    with open(cmd["path"], "wb") as f:
                        f.write(base64.b64decode(shot["data"]))
                    answer({"ok": True, "path": cmd["path"]})
                elif kind == "pixel":
                    shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                        "clip": {"x": cmd["x"], "y": cmd["y"], "width": 1, "height": 1, "scale": 1}})
                    answer({"ok": True, "value": png_pixel(base64.b64decode(shot["data"]))})
                elif kind == "languages":
                    agent = browser.call("Browser.getVersion")["userAgent"]
                    browser.call("Emulation.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": cmd["accept"]})
                    answer({"ok": True})
                elif kind == "requests":
                    answer({"ok": True, "value": browser.requests})
                elif kind == "quit":
                    answer({"ok": True})
                    break
                else:
                    answer({"ok": False, "error": f"unknown command {kind}"})
            except Exception as e:  # one bad command does not end the session
                answer({"ok": False, "error": str(e)})
    except Exception as e:
        answer({"ok": False, "error": str(e)})
    finally:
        browser.close()


if __name__ == "__main__":
    main()
