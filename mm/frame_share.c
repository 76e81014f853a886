/*
 * Sharing counts for frames (include/mm/frame_share.h): an open-addressing
 * hash of shared frames only, keyed by frame number.
 */
#include <lib/errno.h>
#include <mm/frame_share.h>

#define MIN_CAP 64

static size_t hash(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find(const struct frame_share *fs, uint64_t key)
{
	size_t i = hash(key, fs->cap);

	while (fs->slots[i].frame && fs->slots[i].frame != key)
		i = (i + 1) & (fs->cap - 1);
	return i;
}

static int grow(struct frame_share *fs)
{
	size_t cap = fs->cap ? fs->cap * 2 : MIN_CAP;
	struct frame_share_entry *old = fs->slots, *slots = fs->alloc(cap);
	size_t old_cap = fs->cap;

	if (!slots)
		return -ENOMEM;
	fs->slots = slots;
	fs->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].frame)
			slots[find(fs, old[i].frame)] = old[i];
	if (old)
		fs->free(old);
	return 0;
}

uint64_t frame_share_count(const struct frame_share *fs, paddr_t pa)
{
	uint64_t key = pa / PAGE_SIZE + 1;
	size_t i;

	if (!fs->cap)
		return 1;
	i = find(fs, key);
	return fs->slots[i].frame ? fs->slots[i].count : 1;
}

int frame_share_get(struct frame_share *fs, paddr_t pa)
{
	uint64_t key = pa / PAGE_SIZE + 1;
	size_t i;

	if (fs->cap) {
		i = find(fs, key);
		if (fs->slots[i].frame) {
			fs->slots[i].count++;
			return 0;
		}
	}
	if ((fs->used + 1) * 4 > fs->cap * 3 && grow(fs))
		return -ENOMEM;
	i = find(fs, key);
	fs->slots[i] = (struct frame_share_entry){key, 2};
	fs->used++;
	return 0;
}

/* Empty slot i and shift later entries of its probe run back into the hole. */
static void remove_at(struct frame_share *fs, size_t i)
{
	size_t mask = fs->cap - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!fs->slots[j].frame)
			break;
		size_t home = hash(fs->slots[j].frame, fs->cap);
		/* Move j into the hole unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			fs->slots[i] = fs->slots[j];
			i = j;
		}
	}
	fs->slots[i] = (struct frame_share_entry){0, 0};
	fs->used--;
}

uint64_t frame_share_put(struct frame_share *fs, paddr_t pa)
{
	uint64_t key = pa / PAGE_SIZE + 1;
	size_t i;

	if (!fs->cap)
		return 0;
	i = find(fs, key);
	if (!fs->slots[i].frame)
		return 0;
	if (--fs->slots[i].count > 1)
		return fs->slots[i].count;
	remove_at(fs, i);
	return 1;
}

size_t frame_share_bytes(const struct frame_share *fs)
{
	return fs->cap * sizeof(struct frame_share_entry);
}
