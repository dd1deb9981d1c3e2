#!/usr/bin/env python3
"""The ceiling of "one SQLite row per reading" on this machine, for the 1 M readings/s target.

Writes ~1 M rows into a table shaped like the collector's former `raw` (one row a reading,
before sample blocks; SCHEMA.md names it): WAL,
synchronous=NORMAL, INSERT OR IGNORE, one transaction per 5,000 rows. Nothing else runs: no
broker, no decoding, no rollups, no alerts; one core.

  scripts/sqlite-ceiling.py arrival   6,000 series, each every 10 s, arriving round-robin;
                                      each batch sorted by key (as the collector's commits)
  scripts/sqlite-ceiling.py sorted    the best case: all rows in key order, pure appends

Prints rows/s of wall time and of CPU time. The file goes to a temporary directory.
"""
import os, sqlite3, sys, tempfile, time

mode = sys.argv[1] if len(sys.argv) > 1 else "arrival"
if mode not in ("arrival", "sorted"):
    sys.exit("usage: sqlite-ceiling.py arrival|sorted")
with tempfile.TemporaryDirectory() as tmp:
    db = sqlite3.connect(os.path.join(tmp, "ceiling.sqlite"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE raw (series_id INTEGER NOT NULL, t INTEGER NOT NULL, value REAL NOT NULL,"
               " PRIMARY KEY (series_id, t)) WITHOUT ROWID")
    series, per, batch = 6000, 167, 5000
    rows = [(s, 1_795_000_000_000 + k * 10_000, float(k)) for k in range(per) for s in range(series)]
    if mode == "sorted":
        rows.sort()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch] if mode == "sorted" else sorted(rows[i:i + batch])
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO raw (series_id, t, value) VALUES (?, ?, ?)", chunk)
        db.execute("COMMIT")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = db.execute("SELECT count(*) FROM raw").fetchone()[0]
    db.close()
print(f"sqlite-ceiling {mode}: {n:,} rows in {wall:.2f} s: {n / wall:,.0f} rows/s "
      f"({n / cpu:,.0f} rows/s of CPU), SQLite {sqlite3.sqlite_version}")
