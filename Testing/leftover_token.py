"""Print the place token qsmrim writes into its temporary names (.NAME.qsmrim-tmp-TOKEN-PID-N,
.qsmrim-staging-TOKEN-PID-N): FNV-1a (32 bit) over this boot's id and the PID namespace link, as
eight hex digits, 0 taken as 1. The tests use it to fake a killed run's leftovers. The definition
it mirrors is qr_place_token in Logic/core/fileutil.c; a change there fails the leftover tests."""
import os

data = open("/proc/sys/kernel/random/boot_id", "rb").read() + os.readlink("/proc/self/ns/pid").encode()
h = 2166136261
for c in data:
    h = ((h ^ c) * 16777619) & 0xFFFFFFFF
print("%08x" % (h or 1))
