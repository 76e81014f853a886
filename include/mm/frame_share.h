/*
 * Sharing counts for frames owned by more than one address space
 * (copy-on-write after aspace_clone). Portable C: the kernel keeps one
 * table (mm/aspace.c, under its lock), host tests and the fuzzer others.
 *
 * Design: a frame mapped by one space has no entry at all: its count of 1
 * is implicit. Only shared frames get an entry, in an open-addressing hash
 * keyed by frame number (linear probing, backward-shift deletion, no
 * tombstones), grown by doubling at 3/4 load. The cost is therefore 0
 * bytes per GiB of RAM when nothing is shared, and 16 bytes per shared
 * frame (at most 32 with the load factor) when something is: a fork of a
 * process with 4 MiB touched adds 1024 entries, 16-32 KiB. A per-frame
 * array would cost 1 MiB per GiB (4 bytes a frame) whether or not anything
 * is shared.
 *
 * Not locked: the caller serialises.
 */
#pragma once

#include <lib/types.h>

struct frame_share_entry {
	uint64_t frame; /* frame number + 1; 0 marks an empty slot */
	uint64_t count; /* owners, >= 2 */
};

struct frame_share {
	struct frame_share_entry *slots;
	size_t cap;  /* slots, a power of two (0 before the first share) */
	size_t used; /* entries */
	/* Zeroed memory for n entries, or NULL; and its release. */
	void *(*alloc)(size_t n);
	void (*free)(void *p);
};

/* How many spaces own frame pa: 1 if it has no entry (the caller owns it). */
uint64_t frame_share_count(const struct frame_share *fs, paddr_t pa);

/* One more owner of pa (which has at least one). 0, or -ENOMEM (nothing changed). */
int frame_share_get(struct frame_share *fs, paddr_t pa);

/*
 * One owner of pa lets go. Returns the owners left: 0 means the caller was
 * the last and frees the frame; 1 means exactly one other owner remains and
 * it may now write the frame without a copy.
 */
uint64_t frame_share_put(struct frame_share *fs, paddr_t pa);

/* Bytes of table memory in use. */
size_t frame_share_bytes(const struct frame_share *fs);
