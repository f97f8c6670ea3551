# The commands a user types. Every target that needs the build depends on `deps` (idempotent apt-get).
PREFIX ?= /usr/local
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
CNI_DIR ?= $(PREFIX)/lib/cni
CTEST = cd $(BUILD) && ctest --output-on-failure --timeout 600

.PHONY: deps deps-test build demo test test-unit test-integration test-runtime test-sanitize test-kernel bench install cni clean

deps:
	@scripts/install-deps.sh

# What the tests and benchmarks start besides ctnet: podman, containerd, etcd, QEMU, iperf3 ...
deps-test:
	@scripts/install-deps.sh --test

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

# The main job: the seed's bridge scenario (two namespaces on a bridge) built, proved with pings, shown,
# and removed again. KEEP=1 leaves it up (remove it later with `build/ctnet down seed`).
demo: build
	@scripts/demo.sh $(BUILD)/ctnet

# The kernel suite's VM environment (downloads from Debian's mirror, netdevsim built once) is prepared in the
# background meanwhile: the suite's own preparation waits for it (tests/kernel/setup-vm-env.sh takes a lock).
test: build deps-test
	@mkdir -p $(BUILD)/kernel-tests
	@tests/kernel/setup-vm-env.sh --qemu10 --netdevsim $${VM_ROOT:-$$HOME/.cache/ctnet-vm} >$(BUILD)/kernel-tests/setup-early.log 2>&1 &
	$(CTEST) -L 'unit|integration|runtime'
	@$(MAKE) --no-print-directory test-sanitize
	@$(MAKE) --no-print-directory test-kernel

test-unit: build deps-test
	$(CTEST) -L unit

test-integration: build deps-test
	$(CTEST) -L integration

test-runtime: build deps-test
	$(CTEST) -L runtime

# The unit and integration suites again, on a build with AddressSanitizer and UndefinedBehaviorSanitizer
# (its own directory; the tests exec that build's ctnet). Any finding aborts the program and fails its test.
# -O1 -g1, as the sanitizers' documentation suggests: findings keep their stack lines, and it builds in less time.
# The fault-injection table fails every third step of each row here (CTNET_FAULT_STRIDE; a different third per
# row): each of its thousands of runs pays the sanitizers' start-up, and the normal run fails every step.
$(ASAN_BUILD)/Makefile:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO='-O1 -g1 -DNDEBUG' -DCTNET_SANITIZE=ON

test-sanitize: deps-test $(ASAN_BUILD)/Makefile
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target ctnet test_unit test_integration
	cd $(ASAN_BUILD) && CTNET_FAULT_STRIDE=3 ctest --output-on-failure --timeout 600 -L 'unit|integration'

# ipvlan and SR-IOV need drivers this machine's kernel lacks: a stock Debian kernel boots under QEMU.
test-kernel: build deps-test
	@tests/kernel/run.sh $(BUILD)

bench: build deps-test
	@bench/run.sh $(BUILD)

cni: build
	@scripts/make-cni-dir.sh $(BUILD)/ctnet $(BUILD)/cni

install: build
	install -D -s -m 0755 $(BUILD)/ctnet $(DESTDIR)$(PREFIX)/bin/ctnet
	@scripts/make-cni-dir.sh $(DESTDIR)$(PREFIX)/bin/ctnet $(DESTDIR)$(CNI_DIR)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
