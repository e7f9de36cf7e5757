"""The rate limiter's cost per request: one `hit_ip` + one `hit_user` (what the edge does for an
authenticated v2 request), on memory and on Redis, against a baseline of the same loop doing
nothing. One line per figure.

    .venv/bin/python scripts/bench/ratelimit.py [--redis redis://127.0.0.1:6379/7] [-n 20000]
"""

from __future__ import annotations

import argparse
import time

from cardano_market.service.ratelimit import RateLimiter, RateLimits, RouteClass


def _per_request(limiter: RateLimiter | None, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        if limiter is not None:
            limiter.hit_ip(RouteClass.BUILD, f"10.0.{i % 250}.{i % 200}")
            limiter.hit_user(RouteClass.BUILD, "ab" * 12)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args()
    limits = RateLimits("1000000/minute", "1000000/minute", "1000000/minute")
    baseline = _per_request(None, args.n)
    memory = _per_request(RateLimiter(limits), args.n)
    print(f"baseline loop: {baseline * 1e6:.2f} us/request")
    print(f"memory limiter: {(memory - baseline) * 1e6:.1f} us/request (ip + user)")
    redis_limiter = RateLimiter(limits, args.redis)
    redis_limiter.reset()
    shared = _per_request(redis_limiter, max(1, args.n // 10))
    print(f"redis limiter: {(shared - baseline) * 1e6:.1f} us/request (ip + user)")
    redis_limiter.reset()


if __name__ == "__main__":
    main()
