"""The app under load: 20 concurrent client sessions, identical and distinct requests.

Starts `launch_ui.py` in a subprocess (its own process, as users get it) on a free loopback
port with the shipped checkpoints and an empty runs folder, then:

1. reference: one client asks /sample for dcgan-mnist, seed 0 and seeds 1..20 (16 samples
   each), and keeps the bytes of each answer's picture (one sheet of 16 samples);
2. identical: 20 clients at once, each asking seed 0 `--rounds` times (the default seed: what
   ordinary users hit);
3. distinct: 20 clients at once, client i asking seed i+1 `--rounds` times;
4. cheap under heavy: 2 clients run PixelCNN step-by-step runs (the expensive kind of work)
   while 10 clients sample dcgan-mnist; cheap calls must not wait behind the heavy ones.

Every answer is checked: no error, the picture a full PNG byte-identical to the single-client
answer. Reports calls, errors, mismatches and p50/p95 latency per phase, and the CPU-seconds
each call cost the app's process and this one (the clients): on a 2-core machine that runs both,
N simultaneous calls cannot all finish sooner than N x (app + client CPU-s per call) / 2.

`--client gradio` (the default) makes each session a `gradio_client.Client`; `--client http`
a persistent `httpx.Client` speaking Gradio's REST API (POST /gradio_api/call/<api>, then its
server-sent events, then GET /gradio_api/file=<path> for the picture): gradio_client's own work
per call, which here runs on the app's cores, is left out of what the latencies measure (the
client CPU-s column says how much is left). Both answer in the same form and get the same checks.

    python tools/bench_ui_load.py                    # ~2-4 min on a busy 2-core machine
    python tools/bench_ui_load.py --client http      # the same load without gradio_client
    python tools/bench_ui_load.py --app-dir /tmp/old # the same load on another checkout
    python tools/bench_ui_load.py --quick            # smoke test: 2 clients, 1 round, 1 heavy run
    python tools/bench_ui_load.py --page-open        # a class opens the page at once, then clicks

`--page-open` measures instead what a class does on the first minute: `--clients` sessions open
the page at the same moment (each joins every page-load event of the app's config, with the
components' first values, as a browser does over Gradio's queue) and each clicks Sample for 12
`--click-at` seconds later. Reports per session: when the first sheet arrived, when the last
page-open event finished, and how long the click took to answer.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _k in ("NO_PROXY", "no_proxy"):
    os.environ[_k] = ",".join(filter(None, [os.environ.get(_k, ""), "127.0.0.1,localhost"]))

ROOT = Path(__file__).resolve().parent.parent
CHEAP = "dcgan-mnist"
HEAVY = "pixelcnn-mnist"
START_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(app_dir: Path, checkpoints: Path, runs: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """The app in its own process; its output goes to `log` (a pipe nobody reads would block the
    app once its 64 KiB buffer filled) and is shown if it fails to start."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(app_dir), OMP_NUM_THREADS="1")
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(app_dir / "launch_ui.py"), "--port", str(port), "--checkpoints",
                                 str(checkpoints), "--runs", str(runs), "--threads", "1"], cwd=app_dir, env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    import httpx

    # generous: with both cores busy (two training jobs) the first page once took ~5 min
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    proc.wait()
    raise SystemExit(f"the app did not start within {START_TIMEOUT_S} s:\n{log.read_text()}")


class AppError(Exception):
    """The app answered a call with an error event (what gradio_client raises as its AppError)."""


class HttpClient:
    """One simulated user on Gradio's REST API: one persistent httpx.Client, no gradio_client.

    `predict` answers as `gradio_client.Client.predict` does (a tuple of the outputs, or the one
    output; files downloaded into `folder`, their local paths in their place), so both kinds of
    client go through the same calls and checks."""

    def __init__(self, url: str, folder: Path):
        import httpx

        self.url, self.folder = url, folder
        self.http = httpx.Client(timeout=None)  # a heavy call streams for as long as it runs

    def predict(self, *data, api_name: str):
        api = f"{self.url}gradio_api/call/{api_name.lstrip('/')}"
        r = self.http.post(api, json={"data": list(data)})
        r.raise_for_status()
        event, outputs, error = None, None, None
        with self.http.stream("GET", f"{api}/{r.json()['event_id']}") as events:
            events.raise_for_status()
            # read to the end (the server closes the stream after its last event), so the
            # connection goes back to the pool for the next call instead of being dropped
            for line in events.iter_lines():
                if line.startswith("event:"):
                    event = line[len("event:"):].strip()
                elif line.startswith("data:") and event == "complete":
                    outputs = json.loads(line[len("data:"):])
                elif line.startswith("data:") and event == "error":
                    error = line[len("data:"):].strip()
        if error is not None or outputs is None:
            raise AppError(error or "the event stream ended without an answer")
        outputs = [self.download(x) for x in outputs]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def download(self, x):
        """A file output (a top-level gradio.FileData, as these endpoints give) fetched over this
        user's connection from /gradio_api/file=<its server path>, the URL gradio_client uses."""
        if not (isinstance(x, dict) and (x.get("meta") or {}).get("_type") == "gradio.FileData"):
            return x
        r = self.http.get(f"{self.url}gradio_api/file={urllib.parse.quote(x['path'], safe='/')}")
        r.raise_for_status()
        local = self.folder / Path(x["path"]).name  # this user's calls come one at a time
        local.write_bytes(r.content)
        return str(local)


def client(url: str, folder: Path, kind: str = "gradio"):
    folder.mkdir(parents=True, exist_ok=True)  # one download folder per client: no client-side races
    if kind == "http":
        return HttpClient(url, folder)
    from gradio_client import Client

    return Client(url, verbose=False, analytics_enabled=False, download_files=str(folder))


def answer_bytes(result) -> list[bytes]:
    """The bytes of the picture in a /sample answer: the sheet of every sample."""
    sheet, _ = result
    return [Path(sheet).read_bytes()]


def sample(c, seed: int):
    return c.predict(CHEAP, seed, 16, {}, api_name="/sample")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads so far (Linux /proc; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


class CpuMeter:
    """CPU-seconds spent by the app and by this process (the clients) between start() and stop()."""

    def __init__(self, app_pid: int):
        self.app_pid, self.app, self.clients = app_pid, 0.0, 0.0

    def start(self):
        self._app0, self._me0 = process_cpu_seconds(self.app_pid), time.process_time()

    def stop(self):
        self.app = process_cpu_seconds(self.app_pid) - self._app0
        self.clients = time.process_time() - self._me0


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


class Phase:
    def __init__(self, name: str):
        self.name, self.lat, self.errors, self.mismatch, self.empty, self.kinds = name, [], 0, 0, 0, {}
        self.cpu = None  # a CpuMeter where the phase was measured alone
        self.lock = threading.Lock()

    def record(self, seconds: float | None, error: Exception | None = None, got=None, want=None):
        with self.lock:
            if error is not None:
                self.errors += 1
                k = type(error).__name__
                self.kinds[k] = self.kinds.get(k, 0) + 1
                return
            self.lat.append(seconds)
            if got is not None:
                if any(len(b) == 0 for b in got):
                    self.empty += 1
                if got != want:
                    self.mismatch += 1

    def line(self, alone: float) -> str:
        """One table row; the last column is p95 over one lone request's median (issue 28's goal: <= 8)."""
        n = len(self.lat) + self.errors
        kinds = f" ({', '.join(f'{k} {v}' for k, v in self.kinds.items())})" if self.kinds else ""
        p95 = percentile(self.lat, 0.95)
        cpu = (f" {self.cpu.app / n:9.3f} {self.cpu.clients / n:9.3f}" if self.cpu and n else "")
        return (f"{self.name:26s} {n:5d} {self.errors:6d}{kinds:>0} {self.mismatch:10d} {self.empty:6d} "
                f"{percentile(self.lat, 0.5):8.2f} {p95:8.2f} {p95 / alone:10.1f}{cpu}")


def run_phase(phase: Phase, clients: list, work) -> None:
    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def page_open_phase(url: str, sessions: int, click_at: float) -> dict[str, list[float]]:
    """`sessions` browsers opening the page at once, each clicking Sample (12) `click_at` s later;
    -> {"first sheet", "page open done", "click"}: seconds per session."""
    import uuid

    import httpx

    config = httpx.get(f"{url}config", timeout=60).json()
    comps = {c["id"]: c for c in config["components"]}
    deps = config["dependencies"]
    on_load = [d for d in deps if any(t[1] == "load" for t in d["targets"])]
    click = next(d for d in deps if d.get("api_name") == "sample")
    first_sheet = next(d["id"] for d in on_load if d.get("api_name") == "sample_on_load")

    def first_values(dep) -> list:  # a gr.State's value lives on the server; the page sends null
        return [None if comps[i]["type"] == "state" else comps[i]["props"].get("value") for i in dep["inputs"]]

    times = {"first sheet": [], "page open done": [], "click": []}
    lock = threading.Lock()

    def session():
        h, fn_of, done = uuid.uuid4().hex[:11], {}, {}
        with httpx.Client(base_url=url, timeout=None) as http:
            def join(dep, data):
                r = http.post("gradio_api/queue/join", json={"data": data, "event_data": None, "fn_index": dep["id"],
                                                             "trigger_id": dep["targets"][0][0], "session_hash": h})
                r.raise_for_status()
                fn_of[r.json()["event_id"]] = dep["id"]

            t0 = time.perf_counter()
            for dep in on_load:
                join(dep, first_values(dep))
            clicked_at = []

            def click_sample():  # the user's click, whatever the stream is doing then
                data = first_values(click)
                how_many = next(k for k, i in enumerate(click["inputs"]) if comps[i]["props"].get("label") == "How many")
                data[how_many] = 12
                join(click, data)
                clicked_at.append(time.perf_counter() - t0)

            clicker = threading.Timer(click_at, click_sample)
            clicker.start()
            while len(done) < len(on_load) + 1:
                # Gradio closes a session's stream once none of its events is pending, which happens
                # when the page has opened before the click: listen again once the click is sent
                if len(done) == len(on_load):
                    clicker.join()
                with http.stream("GET", f"gradio_api/queue/data?session_hash={h}") as stream:
                    for line in stream.iter_lines():
                        if not line.startswith("data:"):
                            continue
                        m = json.loads(line[len("data:"):])
                        if m.get("msg") == "process_completed":
                            if not m.get("success"):
                                raise AppError(f"event {fn_of.get(m['event_id'])} failed: {m.get('output')}")
                            done[fn_of.get(m["event_id"])] = time.perf_counter() - t0
                        if len(done) == len(on_load) + 1 or m.get("msg") == "close_stream":
                            break
            clicker.join()
        with lock:
            times["first sheet"].append(done[first_sheet])
            times["page open done"].append(max(t for k, t in done.items() if k != click["id"]))
            times["click"].append(done[click["id"]] - clicked_at[0])

    threads = [threading.Thread(target=session) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5, help="requests per client per phase")
    ap.add_argument("--app-dir", default=str(ROOT), help="checkout whose launch_ui.py is started")
    ap.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    ap.add_argument("--client", choices=("gradio", "http"), default="gradio",
                    help="gradio: gradio_client sessions; http: Gradio's REST API over httpx, without gradio_client")
    ap.add_argument("--heavy", type=int, default=2, help="clients running PixelCNN step by step in the last phase")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 2 clients, 1 round, 1 heavy run (checks the answers; the timings mean little)")
    ap.add_argument("--page-open", action="store_true",
                    help="instead: --clients sessions open the page at once and each clicks Sample --click-at s later")
    ap.add_argument("--click-at", type=float, default=3.0, help="with --page-open: seconds after opening")
    a = ap.parse_args()
    if a.quick:
        a.clients, a.rounds, a.heavy = 2, 1, 1
    if not a.page_open and not 0 < a.heavy < a.clients:
        ap.error("--heavy must be at least 1 and leave at least one of the --clients to sample")
    work_dir = Path(tempfile.mkdtemp(prefix="genlab-bench-load-"))
    try:
        proc, url = start_app(Path(a.app_dir), Path(a.checkpoints), work_dir / "runs", work_dir / "app.log")
    except BaseException:
        shutil.rmtree(work_dir, ignore_errors=True)  # a failed start leaves nothing behind
        raise
    try:
        if a.page_open:
            cpu = CpuMeter(proc.pid)
            cpu.start()
            times = page_open_phase(url, a.clients, a.click_at)
            cpu.stop()
            print(f"\napp: {a.app_dir}  ({url}); {a.clients} sessions open the page at once, each clicks Sample "
                  f"(12) {a.click_at:g} s later; app CPU-s {cpu.app:.1f}")
            print(f"{'seconds after opening':26s} {'sessions':>8s} {'p50 s':>8s} {'p95 s':>8s} {'max s':>8s}")
            for name, xs in times.items():
                label = "click -> its sheet" if name == "click" else name
                print(f"{label:26s} {len(xs):8d} {percentile(xs, 0.5):8.2f} {percentile(xs, 0.95):8.2f} {max(xs):8.2f}")
            return 0 if all(len(xs) == a.clients for xs in times.values()) else 1
        ref_client = client(url, work_dir / "ref", a.client)
        want = {s: answer_bytes(sample(ref_client, s)) for s in range(a.clients + 1)}
        lone = Phase("one client alone")
        lone.cpu = CpuMeter(proc.pid)
        lone.cpu.start()
        for _ in range(11):
            t = time.perf_counter()
            sample(ref_client, 0)
            lone.record(time.perf_counter() - t)
        lone.cpu.stop()
        clients = [client(url, work_dir / f"c{i}", a.client) for i in range(a.clients)]
        phases = []

        def sampling(phase: Phase, seed_of):
            def work(i, c):
                for _ in range(a.rounds):
                    s = seed_of(i)
                    t = time.perf_counter()
                    try:
                        got = answer_bytes(sample(c, s))
                    except Exception as e:  # noqa: BLE001 - counted and named
                        phase.record(None, e)
                        continue
                    phase.record(time.perf_counter() - t, got=got, want=want[s])
            return work

        for name, seed_of in (("identical (seed 0)", lambda i: 0), ("distinct (seed i+1)", lambda i: i + 1)):
            ph = Phase(f"{name} x{a.clients}")
            ph.cpu = CpuMeter(proc.pid)
            ph.cpu.start()
            run_phase(ph, clients, sampling(ph, seed_of))
            ph.cpu.stop()
            phases.append(ph)

        # cheap calls while expensive ones run: `--heavy` clients run steps, up to 10 others sample
        cheap_clients = clients[a.heavy:a.heavy + 10]
        heavy = Phase(f"{HEAVY} steps x{a.heavy} (heavy)")
        cheap = Phase(f"{CHEAP} sample x{len(cheap_clients)} (cheap)")
        stop = threading.Event()

        def heavy_work(i, c):
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    c.predict(HEAVY, i, 4, {"every": 4}, api_name="/steps")
                    heavy.record(time.perf_counter() - t)
                except Exception as e:  # noqa: BLE001
                    heavy.record(None, e)

        hs = [threading.Thread(target=heavy_work, args=(i, c)) for i, c in enumerate(clients[:a.heavy])]
        for h in hs:
            h.start()
        time.sleep(3)  # the heavy runs are under way
        run_phase(cheap, cheap_clients, sampling(cheap, lambda i: i % (a.clients + 1)))
        stop.set()
        for h in hs:
            h.join()
        phases += [cheap, heavy]

        alone_p50 = statistics.median(lone.lat)
        print(f"\napp: {a.app_dir}  ({url}); clients: {a.client}; one client alone, {CHEAP} 16 samples: "
              f"median {alone_p50:.2f} s (of {len(lone.lat)})")
        print(f"{'phase':26s} {'calls':>5s} {'errors':>6s} {'mismatches':>10s} {'empty':>6s} "
              f"{'p50 s':>8s} {'p95 s':>8s} {'p95/alone':>10s} {'app CPU-s':>9s} {'client CPU-s':>9s}")
        print("  (CPU-s per call, phases run alone; the heavy phase shares the app with the cheap one)")
        for ph in [lone] + phases:
            print(ph.line(alone_p50))
        bad = sum(p.errors + p.mismatch + p.empty for p in phases)
        print(f"\n{'OK' if bad == 0 else 'FAILED'}: {bad} errors, mismatched or empty answers in all")
        return 0 if bad == 0 else 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
