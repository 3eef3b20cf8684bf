# Build rules shared by the 32-bit bare-metal ports (cortex-m3, riscv32). A port's Makefile sets
# PORT, PORT_DIR, CROSS and CPUFLAGS (LINKCPU when linking needs other flags), then includes this.
# Sources are found relative to the port, so the tree can be read-only (installed package data)
# while BUILD points anywhere writable; FW_CORE_DIR / FW_APP_DIR build another application.
FW_ROOT ?= $(abspath $(PORT_DIR)/../..)
BUILD ?= ../../build/$(PORT)
FW_CORE_DIR ?= $(FW_ROOT)/core
FW_APP_DIR ?= $(FW_ROOT)/examples/demo
# The optional memory-health helpers (stack paint, malloc wrap) the demo uses; a port with a C
# library allocator sets DEMO_HEAP=1 and PORT_LIBS to link it (heap tracking wraps its malloc).
FW_EXTRAS_DIR ?= $(FW_ROOT)/extras
DEMO_HEAP ?= 0
PORT_LIBS ?=
ifeq ($(DEMO_HEAP),1)
EXTRA_SRCS_ALL := $(FW_EXTRAS_DIR)/stack_paint/fw_stack.c $(FW_EXTRAS_DIR)/heap_wrap/fw_heap.c
HEAP_LDFLAGS := -Wl,--wrap=malloc,--wrap=free,--wrap=realloc,--wrap=calloc
else
EXTRA_SRCS_ALL := $(FW_EXTRAS_DIR)/stack_paint/fw_stack.c
HEAP_LDFLAGS :=
endif

CC := $(CROSS)gcc
SIZE := $(CROSS)size
LINKCPU ?= $(CPUFLAGS)

# The streamer's optional modules the demo builds use: triggered capture and change-only streams
# (docs/protocol.md sections 15, 16); FW_OPTIONS= builds the minimal core.
FW_OPTIONS ?= -DFW_CAPTURE=1 -DFW_CHANGE_ONLY=1

# -fno-tree-loop-distribute-patterns: stop gcc turning our own memcpy/memset loops into
# calls to themselves (there is no libc on this port).
CFLAGS := $(CPUFLAGS) -std=c99 -g -Os -Wall -Wextra -Werror -ffreestanding -DFW_WORD_ACCESS=1 \
          -fno-tree-loop-distribute-patterns -ffunction-sections -fdata-sections \
          -I$(FW_CORE_DIR) -I$(FW_APP_DIR) -I$(PORT_DIR)/../common -I$(FW_EXTRAS_DIR)/stack_paint \
          -I$(FW_EXTRAS_DIR)/heap_wrap -DDEMO_HEAP=$(DEMO_HEAP) -MMD -MP $(FW_OPTIONS) $(EXTRA_CFLAGS)
LDFLAGS := $(LINKCPU) -nostartfiles -nostdlib -T $(PORT_DIR)/link.ld -Wl,--build-id=sha1 \
           -Wl,--gc-sections -Wl,-Map=$(BUILD)/demo.map $(HEAP_LDFLAGS)

CORE_SRCS := $(wildcard $(FW_CORE_DIR)/*.c)
APP_SRCS := $(wildcard $(FW_APP_DIR)/*.c)
PORT_SRCS := $(wildcard $(PORT_DIR)/*.c)
# memcpy/memset/memmove (no libc here) and the streamer configuration from linker symbols
COMMON_DIR := $(abspath $(PORT_DIR)/../common)
COMMON_SRCS := $(COMMON_DIR)/freestanding.c $(COMMON_DIR)/baremetal_config.c $(if $(filter 1,$(DEMO_HEAP)),$(COMMON_DIR)/sbrk.c)
PORT_ASM := $(wildcard $(PORT_DIR)/*.S)
OBJS := $(patsubst $(FW_CORE_DIR)/%.c,$(BUILD)/core/%.o,$(CORE_SRCS)) \
        $(patsubst $(FW_APP_DIR)/%.c,$(BUILD)/app/%.o,$(APP_SRCS)) \
        $(patsubst $(PORT_DIR)/%.c,$(BUILD)/port/%.o,$(PORT_SRCS)) \
        $(patsubst $(COMMON_DIR)/%.c,$(BUILD)/common/%.o,$(COMMON_SRCS)) \
        $(patsubst $(FW_EXTRAS_DIR)/%.c,$(BUILD)/extras/%.o,$(EXTRA_SRCS_ALL)) \
        $(patsubst $(PORT_DIR)/%.S,$(BUILD)/port/%.o,$(PORT_ASM))

.PHONY: all size clean
all: $(BUILD)/demo.elf

$(BUILD)/demo.elf: $(OBJS) $(PORT_DIR)/link.ld
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(PORT_LIBS) -lgcc
	$(SIZE) $@

$(BUILD)/core/%.o: $(FW_CORE_DIR)/%.c $(PORT_DIR)/Makefile $(COMMON_DIR)/baremetal.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<
$(BUILD)/app/%.o: $(FW_APP_DIR)/%.c $(PORT_DIR)/Makefile $(COMMON_DIR)/baremetal.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<
$(BUILD)/port/%.o: $(PORT_DIR)/%.c $(PORT_DIR)/Makefile $(COMMON_DIR)/baremetal.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<
$(BUILD)/extras/%.o: $(FW_EXTRAS_DIR)/%.c $(PORT_DIR)/Makefile $(COMMON_DIR)/baremetal.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<
$(BUILD)/common/%.o: $(COMMON_DIR)/%.c $(PORT_DIR)/Makefile $(COMMON_DIR)/baremetal.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

size: $(BUILD)/demo.elf
	$(SIZE) $<

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d)

$(BUILD)/port/%.o: $(PORT_DIR)/%.S $(PORT_DIR)/Makefile $(COMMON_DIR)/baremetal.mk
	@mkdir -p $(@D)
	$(CC) $(CPUFLAGS) -g -c -o $@ $<
