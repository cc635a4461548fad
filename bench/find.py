"""`/rec find` at scale: search p99 over many transcripts of an hour each, and the index's size per hour.

    python -m bench.find [--transcripts 10000] [--channels 1000] [--queries 400] [--db PATH] [--postgres URL]

An hour of talk is about 9,000 words (150 a minute), said here as 600 lines of 15 words from a 5,000-word
vocabulary with a Zipf-like spread (a few words very common, most rare), by one of 6 speakers. The
transcripts are spread over `--channels` channels of one workspace; each query searches one channel, as
`/rec find` does: one of the 20 most frequent words (as common as "the"), a common word (ranks 20-200),
a rare word, two words, and a quoted phrase taken from a real line. With `--db PATH` the database is kept,
and a second run on it only searches.
The store's own `TranscriptLines.find` is timed, on the store's engine, after the database is built (a
warm cache: the index of a year of meetings fits in memory). It prints its figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time

from bot.store import Store
from bot.store.transcripts import TranscriptLine

LINES_PER_HOUR, WORDS_PER_LINE, VOCABULARY = 600, 15, 5000


def vocabulary(rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ren", "sto", "pa", "vi", "dor", "qua", "shi", "tem", "bal", "nor", "fi"]
    words = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def build(store: Store, transcripts: int, channels: int, seed: int = 7) -> tuple[list[str], list[str], float]:
    """Fill the store; returns (the words, some real lines to take phrases from, seconds it took)."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]  # Zipf: the 1st word 1,000× the 1,000th
    speakers = ["Ann", "Ben", "Cleo", "Dev", "Eli", "Fay"]
    samples: list[str] = []
    began = time.perf_counter()
    for n in range(transcripts):
        channel = f"C{n % channels:07d}"
        chosen = rng.choices(words, weights, k=LINES_PER_HOUR * WORDS_PER_LINE)
        lines = []
        for i in range(LINES_PER_HOUR):
            text = " ".join(chosen[i * WORDS_PER_LINE:(i + 1) * WORDS_PER_LINE])
            lines.append(TranscriptLine(f"rec{n}", 1.7e9 + n * 3600 + i * 6, i * 6.0, speakers[i % 6], text))
        if n % 97 == 0:
            samples.append(lines[rng.randrange(len(lines))].text)
        with store.transaction():
            store.transcripts.keep("T0BENCH", channel, f"s{n}", lines)
        if n and n % 1000 == 0:
            print(f"  {n} transcripts in {time.perf_counter() - began:.0f} s", flush=True)
    return words, samples, time.perf_counter() - began


def queries(words: list[str], samples: list[str], channels: int, count: int, seed: int = 11) -> list[tuple]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        channel = f"C{rng.randrange(channels):07d}"
        kind = ("very common", "common", "rare", "two words", "phrase")[n % 5]
        if kind == "very common":  # the 20 most frequent words: as often as "the" or "and" in English
            q = rng.choice(words[:20])
        elif kind == "common":
            q = rng.choice(words[20:200])
        elif kind == "rare":
            q = rng.choice(words[2000:])
        elif kind == "two words":
            q = f"{rng.choice(words[:200])} {rng.choice(words[200:2000])}"
        else:
            line = rng.choice(samples).split()
            at = rng.randrange(len(line) - 2)
            q = '"' + " ".join(line[at:at + 3]) + '"'
        out.append((kind, channel, q))
    return out


def size_of(store: Store) -> tuple[int, int]:
    """(bytes of the whole database, bytes of the full-text index alone)."""
    if store.db.dialect == "postgres":
        total = store.db.scalar("SELECT pg_total_relation_size('transcript_lines')")
        index = store.db.scalar("SELECT pg_relation_size('transcript_lines_words')")
        return int(total), int(index)
    total = os.path.getsize(store.path)
    try:
        index = store.db.scalar("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'transcript_lines_fts%'")
    except Exception:  # SQLite built without the dbstat table
        index = None
    return total, int(index or 0)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transcripts", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--db", help="a SQLite file to build (default: a temporary one, deleted after)")
    parser.add_argument("--postgres", help="a PostgreSQL URL to build in instead (an empty database)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="recbot-find-")
    path = args.postgres or args.db or os.path.join(folder, "find.sqlite3")
    store = Store(path)
    try:
        hours = args.transcripts
        if store.transcripts.count():  # a kept database: the same words again, without building it
            words, samples, took = vocabulary(random.Random(7)), [], 0.0
            samples = [r["text"] for r in store.db.all("SELECT text FROM transcript_lines WHERE id % 58197 = 1")]
        else:
            print(f"building {hours} transcripts of an hour ({hours * LINES_PER_HOUR:,} lines) in "
                  f"{store.db.dialect} …", flush=True)
            words, samples, took = build(store, hours, args.channels)
        total, index = size_of(store)
        asked = queries(words, samples, args.channels, args.queries)
        for _, channel, q in asked[:20]:  # warm-up, not counted
            store.transcripts.find("T0BENCH", channel, q)
        times: dict[str, list[float]] = {}
        hits = []
        for kind, channel, q in asked:
            began = time.perf_counter()
            found = store.transcripts.find("T0BENCH", channel, q)
            times.setdefault(kind, []).append((time.perf_counter() - began) * 1000)
            hits.append(len(found))
        every = [t for ts in times.values() for t in ts]
        if took:
            print(f"built in {took:.0f} s ({hours * LINES_PER_HOUR / took:,.0f} lines/s)")
        print(f"database {total / 2**20:,.0f} MiB, {total / hours / 1024:,.1f} KiB per transcript hour; "
              f"full-text index {index / 2**20:,.0f} MiB, {index / hours / 1024:,.1f} KiB per hour")
        print(f"search over {hours:,} transcripts, {len(every)} queries in one channel each: "
              f"p50 {statistics.median(every):.1f} ms, p99 {percentile(every, 99):.1f} ms "
              f"(goal on SQLite: p99 < 50 ms); {statistics.mean(hits):.1f} hits a query on average")
        for kind, ts in times.items():
            print(f"  {kind:>9}: p50 {statistics.median(ts):.1f} ms, p99 {percentile(ts, 99):.1f} ms")
    finally:
        store.close()
        if not (args.db or args.postgres):
            for name in os.listdir(folder):
                os.remove(os.path.join(folder, name))
            os.rmdir(folder)


if __name__ == "__main__":
    main()
