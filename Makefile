# Installs tok: the five tools, their man pages, shell completions (bash, zsh,
# fish), the example config, the pipeline scripts and the service examples.
#
#   make install                      # builds (release), installs into /usr/local
#   make install PREFIX=/opt/tok      # another prefix
#   make install DESTDIR=/tmp/stage   # staged, for packaging: files land in $(DESTDIR)$(PREFIX)
#   make install BIN_DIR=.build/debug # install binaries already built there (no build)
#   make uninstall                    # removes exactly what install put there (same PREFIX/DESTDIR)
#
# Nothing is written outside $(DESTDIR)$(PREFIX): the example config goes to
# share/doc/tok/ (copy it to /etc/tok/tok.toml yourself); no config is ever overwritten.
PREFIX ?= /usr/local
DESTDIR ?=
CONFIGURATION ?= release
SWIFT ?= swift
BIN_DIR ?=

TOOLS := tok-validate tok-verify tok-apply tok-submit tok-follow
MAN1 := $(wildcard man/*.1)
MAN7 := $(wildcard man/*.7)
PIPELINES := $(wildcard pipelines/*.sh)
DOCS := examples/tok.toml examples/tok-follow@.service examples/tok-reconcile.service examples/tok-reconcile.timer \
        pipelines/crontab.example

root := $(DESTDIR)$(PREFIX)
bindir := $(root)/bin
man1dir := $(root)/share/man/man1
man7dir := $(root)/share/man/man7
docdir := $(root)/share/doc/tok
pipelinedir := $(root)/share/tok/pipelines
bashdir := $(root)/share/bash-completion/completions
zshdir := $(root)/share/zsh/site-functions
fishdir := $(root)/share/fish/vendor_completions.d

ifeq ($(strip $(BIN_DIR)),)
BUILD := build
built = $(shell $(SWIFT) build -c $(CONFIGURATION) --show-bin-path)
else
BUILD :=
built = $(BIN_DIR)
endif

.PHONY: all build install uninstall
all: build

build:
	$(SWIFT) build -c $(CONFIGURATION)

install: $(BUILD)
	install -d "$(bindir)" "$(man1dir)" "$(man7dir)" "$(docdir)" "$(pipelinedir)" "$(bashdir)" "$(zshdir)" "$(fishdir)"
	for tool in $(TOOLS); do install -m 0755 "$(built)/$$tool" "$(bindir)/$$tool"; done
	install -m 0644 $(MAN1) "$(man1dir)"
	install -m 0644 $(MAN7) "$(man7dir)"
	install -m 0644 $(DOCS) "$(docdir)"
	install -m 0755 $(PIPELINES) "$(pipelinedir)"
	for tool in $(TOOLS); do \
	    "$(built)/$$tool" --generate-completion-script bash > "$(bashdir)/$$tool" && \
	    "$(built)/$$tool" --generate-completion-script zsh > "$(zshdir)/_$$tool" && \
	    "$(built)/$$tool" --generate-completion-script fish > "$(fishdir)/$$tool.fish" || exit 1; \
	done

uninstall:
	for tool in $(TOOLS); do \
	    rm -f "$(bindir)/$$tool" "$(bashdir)/$$tool" "$(zshdir)/_$$tool" "$(fishdir)/$$tool.fish"; \
	done
	rm -f $(addprefix "$(man1dir)"/,$(notdir $(MAN1))) $(addprefix "$(man7dir)"/,$(notdir $(MAN7)))
	rm -f $(addprefix "$(docdir)"/,$(notdir $(DOCS))) $(addprefix "$(pipelinedir)"/,$(notdir $(PIPELINES)))
	-rmdir "$(pipelinedir)" "$(root)/share/tok" "$(docdir)" 2> /dev/null
