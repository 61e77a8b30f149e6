# The README's commands. Each one installs what it needs first and is safe to repeat.
.PHONY: test lint unit demo bench

test:
	./scripts/test.sh

lint:
	./scripts/test.sh lint

unit:
	./scripts/test.sh unit

# Side-by-side benchmarks against the raw SDKs; BENCH_ARGS="--scale 0.1" for a quick run.
bench:
	./scripts/test.sh bench $(BENCH_ARGS)
