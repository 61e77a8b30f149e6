# The README's commands. Each one installs what it needs first and is safe to repeat.
.PHONY: test lint unit demo bench docs

test:
	./scripts/test.sh

# The example site on an embedded S3 server (or a real bucket with the AWS_* variables set).
demo:
	./scripts/test.sh demo

lint:
	./scripts/test.sh lint

unit:
	./scripts/test.sh unit

# Side-by-side benchmarks against the raw SDKs; BENCH_ARGS="--scale 0.1" for a quick run.
bench:
	./scripts/test.sh bench $(BENCH_ARGS)

docs:
	./scripts/test.sh docs
