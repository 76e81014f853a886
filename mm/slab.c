/*
 * Object caches (include/mm/slab.h; docs/heap.md, "Object caches"). Owns
 * its slabs: 1 to 8 pages from the backend, aligned to their size, each
 * starting with a header and a state byte per object, then the objects:
 *
 *	+--------+----------------+------+----------+-----+----------+
 *	| header | state[per_slab]| pad  | object 0 | ... | object n |
 *	+--------+----------------+------+----------+-----+----------+
 *	^ slab (aligned to c->slab_size): kmem_cache_free() finds it by masking
 *
 * An object is FREE (on its slab's encoded freelist, poisoned) or TAKEN:
 * in a MAGAZINE (poisoned, its first word the magazine tag, owned by one
 * CPU) or ALLOCATED (its first word anything but the tag). State bytes,
 * freelists, slab lists and counters change only under the cache's lock
 * (refill and flush, a batch at a time); a magazine is touched
 * only by its CPU with interrupts off. So a magazine hit writes nothing
 * but the CPU's own magazine and the object: two CPUs never write the same
 * cache line on their fast paths, even for objects of the same slab.
 */
#include <lib/errno.h>
#include <lib/string.h>
#include <mm/slab.h>

enum { OBJ_FREE, OBJ_TAKEN };
enum { LIST_PARTIAL, LIST_FULL, LIST_EMPTY };

struct kmem_slab {
	uint64_t magic; /* SLAB_MAGIC ^ the cache's secret ^ this address */
	struct kmem_cache *cache;
	struct kmem_slab *next, *prev;
	uint64_t freelist; /* encoded head, as the links are */
	uint32_t inuse;	   /* objects off the freelist */
	uint32_t list;	   /* LIST_* it is on */
	uint8_t state[];   /* OBJ_* per object */
};

#define SLAB_MAGIC  0x51ab51ab51ab51abull
#define MAG_MAGIC   0x6d61676d61676d61ull /* "magmagma": non-canonical, never a link */
#define POISON_WORD (0x0101010101010101ull * KMEM_POISON)
_Static_assert(sizeof(struct kmem_magazine) == 2 * KMEM_LINE, "a magazine owns two whole lines");

static struct spinlock caches_lock = SPINLOCK_INIT;
static struct kmem_cache *caches_head, **caches_tail = &caches_head;

static __noreturn void corrupt(const char *msg)
{
	kmem_backend->corrupt(msg);
}

/* --- geometry and encoding ----------------------------------------------------- */

static struct kmem_slab *slab_of(const struct kmem_cache *c, const void *obj)
{
	return (struct kmem_slab *)ALIGN_DOWN((uintptr_t)obj, c->slab_size);
}

static char *obj_at(const struct kmem_cache *c, struct kmem_slab *s, uint32_t i)
{
	return (char *)s + c->first + (uintptr_t)i * c->stride;
}

/* The index of obj in its slab, or UINT32_MAX if it is not on an object boundary. */
static uint32_t obj_index(const struct kmem_cache *c, const struct kmem_slab *s, const void *obj)
{
	uintptr_t off = (uintptr_t)obj - (uintptr_t)s;

	if (off < c->first || (off - c->first) % c->stride ||
	    (off - c->first) / c->stride >= c->per_slab)
		return UINT32_MAX;
	return (uint32_t)((off - c->first) / c->stride);
}

/* A link as stored at slot: the pointer mixed with the secret and the slot's address. */
static uint64_t encode(const struct kmem_cache *c, const void *slot, const void *next)
{
	return (uintptr_t)next ^ c->secret ^ (uintptr_t)slot;
}

/* The first word of an object in a magazine: no allocated object holds it by chance. */
static uint64_t mag_tag(const struct kmem_cache *c, const void *obj)
{
	return MAG_MAGIC ^ c->secret ^ (uintptr_t)obj;
}

/* The object the link at slot names, checked: NULL at the end; corrupt() if forged. */
static char *decode(const struct kmem_cache *c, struct kmem_slab *s, const void *slot, uint64_t v)
{
	char *next = (char *)(uintptr_t)(v ^ c->secret ^ (uintptr_t)slot);
	uint32_t i;

	if (!next)
		return NULL;
	if (slab_of(c, next) != s || (i = obj_index(c, s, next)) == UINT32_MAX ||
	    s->state[i] != OBJ_FREE)
		corrupt("slab: a freelist link was overwritten (use after free?)");
	return next;
}

/* --- slab lists (=> c's lock) --------------------------------------------------- */

static struct kmem_slab **list_head(struct kmem_cache *c, uint32_t list)
{
	return list == LIST_PARTIAL ? &c->partial : list == LIST_FULL ? &c->full : &c->empty;
}

static void list_remove(struct kmem_cache *c, struct kmem_slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		*list_head(c, s->list) = s->next;
	if (s->next)
		s->next->prev = s->prev;
	c->empty_slabs -= s->list == LIST_EMPTY;
}

static void list_add(struct kmem_cache *c, struct kmem_slab *s)
{
	uint32_t list = s->inuse == 0		  ? LIST_EMPTY
			: s->inuse == c->per_slab ? LIST_FULL
						  : LIST_PARTIAL;
	struct kmem_slab **head = list_head(c, list);

	s->list = list;
	s->prev = NULL;
	s->next = *head;
	if (*head)
		(*head)->prev = s;
	*head = s;
	c->empty_slabs += list == LIST_EMPTY;
}

/* A fresh slab's objects, all FREE and linked in address order. => c's lock */
static struct kmem_slab *slab_new(struct kmem_cache *c)
{
	struct kmem_slab *s = kmem_backend->page_alloc(c->slab_size);

	if (!s)
		return NULL;
	*s = (struct kmem_slab){.magic = SLAB_MAGIC ^ c->secret ^ (uintptr_t)s, .cache = c};
	memset(s->state, OBJ_FREE, c->per_slab);
	memset(obj_at(c, s, 0), KMEM_POISON, (size_t)c->per_slab * c->stride);
	for (uint32_t i = c->per_slab; i-- > 0;) {
		char *o = obj_at(c, s, i);
		*(uint64_t *)o =
		    i + 1 < c->per_slab ? encode(c, o, obj_at(c, s, i + 1)) : encode(c, o, NULL);
	}
	s->freelist = encode(c, &s->freelist, obj_at(c, s, 0));
	c->slabs++;
	list_add(c, s);
	return s;
}

/* --- set-up ----------------------------------------------------------------- */

/* How many objects fit a slab of slab_size after the header and state bytes. */
static void fit(struct kmem_cache *c, uint32_t slab_size, uint32_t align)
{
	c->slab_size = slab_size;
	c->per_slab = (uint32_t)((slab_size - sizeof(struct kmem_slab)) / (c->stride + 1));
	for (;; c->per_slab--) {
		c->first = ALIGN_UP((uint32_t)sizeof(struct kmem_slab) + c->per_slab, align);
		if (c->first + (uint64_t)c->per_slab * c->stride <= slab_size)
			break;
	}
}

/*
 * Object spacing, then the smallest slab that holds KMEM_MIN_OBJECTS and
 * wastes at most an eighth of itself. Objects a whole number of cache
 * lines long start on a line, so two CPUs' objects never share one.
 */
static void geometry(struct kmem_cache *c)
{
	uint32_t align = MAX(c->align, 16u);

	c->stride = ALIGN_UP(MAX(c->size, KMEM_MIN_SIZE), align);
	if (c->stride % KMEM_LINE == 0)
		align = MAX(align, KMEM_LINE);
	for (uint32_t slab = KMEM_SLAB_MIN;; slab *= 2) {
		fit(c, slab, align);
		uint64_t waste = slab - (uint64_t)c->per_slab * c->stride;
		if (slab == KMEM_SLAB_MAX || (c->per_slab >= KMEM_MIN_OBJECTS && waste * 8 <= slab))
			break;
	}
	c->batch = MIN(KMEM_MAG_SIZE / 2, MAX(1u, c->per_slab / 2));
}

static bool valid_params(size_t size, size_t align)
{
	return size >= 1 && size <= KMEM_MAX_SIZE && align >= 1 && align <= 4096 &&
	       !(align & (align - 1));
}

/* Draw the secret, size the slabs, list the cache: once, on first use. */
static void cache_ready(struct kmem_cache *c)
{
	unsigned long flags = spin_lock_irqsave(&caches_lock);

	if (!c->ready) {
		if (!valid_params(c->size, c->align))
			corrupt("slab: a static cache has a bad size or alignment");
		geometry(c);
		c->secret = kmem_backend->secret() | 1;
		c->next_cache = NULL;
		*caches_tail = c;
		caches_tail = &c->next_cache;
		__atomic_store_n(&c->ready, true, __ATOMIC_RELEASE);
	}
	spin_unlock_irqrestore(&caches_lock, flags);
}

int kmem_cache_create(struct kmem_cache *c, const char *name, size_t size, size_t align)
{
	if (!valid_params(size, align))
		return -EINVAL;
	*c = (struct kmem_cache){.name = name, .size = (uint32_t)size, .align = (uint32_t)align};
	cache_ready(c);
	return 0;
}

/* --- the locked half -------------------------------------------------------------- */

/* Take one FREE object off slab s into a magazine. => c's lock */
static void *slab_take(struct kmem_cache *c, struct kmem_slab *s)
{
	char *o = decode(c, s, &s->freelist, s->freelist);
	const uint8_t *b = (const uint8_t *)o;

	for (uint32_t i = sizeof(uint64_t); i < c->stride; i++)
		if (b[i] != KMEM_POISON)
			corrupt("slab: a free object was written to (use after free)");
	s->freelist = encode(c, &s->freelist, decode(c, s, o, *(uint64_t *)o));
	s->state[obj_index(c, s, o)] = OBJ_TAKEN;
	*(uint64_t *)o = mag_tag(c, o);
	list_remove(c, s);
	s->inuse++;
	list_add(c, s);
	c->objects++;
	return o;
}

/* Fill m with up to a batch of objects; false if no page could be had. */
static bool mag_refill(struct kmem_cache *c, struct kmem_magazine *m)
{
	unsigned long flags = spin_lock_irqsave(&c->lock);

	while (m->count < c->batch) {
		struct kmem_slab *s = c->partial ? c->partial : c->empty;
		if (!s && !(s = slab_new(c)))
			break;
		m->obj[m->count++] = slab_take(c, s);
	}
	spin_unlock_irqrestore(&c->lock, flags);
	return m->count > 0;
}

/* Put obj (in a magazine, poisoned) back on its slab's freelist. => c's lock */
static void slab_put(struct kmem_cache *c, char *obj)
{
	struct kmem_slab *s = slab_of(c, obj);

	if (*(uint64_t *)obj != mag_tag(c, obj))
		corrupt("slab: a cached object was written to (use after free)");
	*(uint64_t *)obj = encode(c, obj, decode(c, s, &s->freelist, s->freelist));
	s->freelist = encode(c, &s->freelist, obj);
	s->state[obj_index(c, s, obj)] = OBJ_FREE;
	list_remove(c, s);
	s->inuse--;
	c->objects--;
	if (s->inuse == 0 && c->empty_slabs >= KMEM_KEEP_EMPTY) {
		c->slabs--;
		kmem_backend->page_free(s, c->slab_size);
		return;
	}
	list_add(c, s);
}

/* Give the oldest n objects of m back to their slabs (a batch, or all of them). */
static void mag_flush(struct kmem_cache *c, struct kmem_magazine *m, uint32_t n)
{
	unsigned long flags = spin_lock_irqsave(&c->lock);

	for (uint32_t i = 0; i < n; i++)
		slab_put(c, m->obj[i]);
	memmove(m->obj, m->obj + n, (m->count - n) * sizeof(m->obj[0]));
	m->count -= n;
	spin_unlock_irqrestore(&c->lock, flags);
}

/* --- the per-CPU half ----------------------------------------------------------- */

static struct kmem_magazine *this_magazine(struct kmem_cache *c)
{
	unsigned cpu = kmem_backend->cpu();

	if (cpu >= KMEM_MAX_CPUS)
		corrupt("slab: more CPUs than KMEM_MAX_CPUS magazines");
	return &c->mag[cpu];
}

/* A magazine hit: pop and untag, no lock, nothing written but the magazine and obj. */
void *kmem_cache_alloc(struct kmem_cache *c)
{
	char *obj = NULL;

	if (!__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE))
		cache_ready(c);
	unsigned long irq = arch_irq_save();
	struct kmem_magazine *m = this_magazine(c);
	if (m->count || mag_refill(c, m)) {
		obj = m->obj[--m->count];
		if (*(uint64_t *)obj != mag_tag(c, obj))
			corrupt("slab: a cached object was written to (use after free)");
		*(uint64_t *)obj = POISON_WORD; /* allocated: no longer tagged */
	}
	arch_irq_restore(irq);
	return obj;
}

void *kmem_cache_zalloc(struct kmem_cache *c)
{
	void *obj = kmem_cache_alloc(c);

	if (obj)
		memset(obj, 0, c->size);
	return obj;
}

/*
 * Check that obj is an allocated object of c: a boundary in one of c's
 * slabs, TAKEN, and not tagged as sitting in a magazine (any CPU's).
 * Only reads the slab header.
 */
static void check_allocated(struct kmem_cache *c, void *obj)
{
	struct kmem_slab *s = slab_of(c, obj);
	uint32_t i;

	if (!c->ready || s->magic != (SLAB_MAGIC ^ c->secret ^ (uintptr_t)s) || s->cache != c ||
	    (i = obj_index(c, s, obj)) == UINT32_MAX)
		corrupt("slab: free of a pointer this cache never handed out");
	if (s->state[i] != OBJ_TAKEN || *(uint64_t *)obj == mag_tag(c, obj))
		corrupt("slab: double free");
}

/* Poison, tag and push onto this CPU's magazine (flushing a batch if it is full). */
void kmem_cache_free(struct kmem_cache *c, void *obj)
{
	if (!obj)
		return;
	unsigned long irq = arch_irq_save();
	check_allocated(c, obj);
	struct kmem_magazine *m = this_magazine(c);
	memset(obj, KMEM_POISON, c->stride);
	*(uint64_t *)obj = mag_tag(c, obj);
	if (m->count == 2 * c->batch + 1)
		mag_flush(c, m, c->batch);
	m->obj[m->count++] = obj;
	arch_irq_restore(irq);
}

/* --- whole caches ------------------------------------------------------------------ */

/* Give c's magazine objects back to their slabs. Other CPUs must be idle in c. */
static void drain_all(struct kmem_cache *c)
{
	unsigned long irq = arch_irq_save();

	for (unsigned i = 0; i < KMEM_MAX_CPUS; i++)
		if (c->mag[i].count)
			mag_flush(c, &c->mag[i], c->mag[i].count);
	arch_irq_restore(irq);
}

/* Free every empty slab of c. => c's lock */
static void free_empty_slabs(struct kmem_cache *c)
{
	while (c->empty) {
		struct kmem_slab *s = c->empty;
		list_remove(c, s);
		c->slabs--;
		kmem_backend->page_free(s, c->slab_size);
	}
}

void kmem_cache_shrink(struct kmem_cache *c)
{
	unsigned long irq;

	if (!__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE))
		return;
	irq = arch_irq_save();
	struct kmem_magazine *m = this_magazine(c);
	if (m->count)
		mag_flush(c, m, m->count);
	arch_irq_restore(irq);
	irq = spin_lock_irqsave(&c->lock);
	free_empty_slabs(c);
	spin_unlock_irqrestore(&c->lock, irq);
}

static void shrink_one(struct kmem_cache *c, void *ctx)
{
	kmem_cache_shrink(c);
}

void kmem_shrink_all(void)
{
	kmem_cache_each(shrink_one, NULL);
}

int kmem_cache_destroy(struct kmem_cache *c)
{
	if (!c->ready)
		return 0;
	drain_all(c);
	unsigned long flags = spin_lock_irqsave(&c->lock);
	if (c->objects) {
		spin_unlock_irqrestore(&c->lock, flags);
		return -EBUSY;
	}
	free_empty_slabs(c);
	spin_unlock_irqrestore(&c->lock, flags);

	flags = spin_lock_irqsave(&caches_lock);
	for (struct kmem_cache **pp = &caches_head; *pp; pp = &(*pp)->next_cache)
		if (*pp == c) {
			*pp = c->next_cache;
			if (caches_tail == &c->next_cache)
				caches_tail = pp;
			break;
		}
	c->ready = false;
	spin_unlock_irqrestore(&caches_lock, flags);
	return 0;
}

void kmem_cache_info(struct kmem_cache *c, struct kmem_cache_info *info)
{
	uint64_t cached = 0;

	for (unsigned i = 0; i < KMEM_MAX_CPUS; i++) /* other CPUs' counts: a snapshot */
		cached += __atomic_load_n(&c->mag[i].count, __ATOMIC_RELAXED);
	unsigned long flags = spin_lock_irqsave(&c->lock);
	*info = (struct kmem_cache_info){
	    .name = c->name,
	    .size = c->size,
	    .stride = c->stride,
	    .per_slab = c->per_slab,
	    .slab_size = c->slab_size,
	    .active = c->objects - cached,
	    .cached = cached,
	    .total = c->slabs * c->per_slab,
	    .slabs = c->slabs,
	    .bytes = c->slabs * c->slab_size,
	};
	spin_unlock_irqrestore(&c->lock, flags);
}

void kmem_cache_each(void (*fn)(struct kmem_cache *c, void *ctx), void *ctx)
{
	/* Caches are only ever appended; a destroyed one is not walked by its own caller. */
	for (struct kmem_cache *c = __atomic_load_n(&caches_head, __ATOMIC_ACQUIRE); c;
	     c = c->next_cache)
		fn(c, ctx);
}

/* One slab: its magic, list, count of objects off the freelist, links, states. */
static bool check_slab(struct kmem_cache *c, struct kmem_slab *s, uint32_t list, uint64_t *inuse)
{
	uint32_t free = 0, off = 0;

	if (s->magic != (SLAB_MAGIC ^ c->secret ^ (uintptr_t)s) || s->cache != c || s->list != list)
		return false;
	for (char *o = decode(c, s, &s->freelist, s->freelist); o;
	     o = decode(c, s, o, *(uint64_t *)o))
		if (++free > c->per_slab)
			return false;
	for (uint32_t i = 0; i < c->per_slab; i++)
		off += s->state[i] != OBJ_FREE;
	*inuse += s->inuse;
	return free + off == c->per_slab && off == s->inuse &&
	       (list == LIST_EMPTY) == (s->inuse == 0) &&
	       (list == LIST_FULL) == (s->inuse == c->per_slab);
}

/* Every magazine object: a TAKEN object of one of c's slabs, still tagged. => c's lock */
static bool check_magazines(struct kmem_cache *c)
{
	uint64_t cached = 0;

	for (unsigned cpu = 0; cpu < KMEM_MAX_CPUS; cpu++) {
		const struct kmem_magazine *m = &c->mag[cpu];
		if (m->count > 2 * c->batch + 1)
			return false;
		for (uint32_t j = 0; j < m->count; j++) {
			char *o = m->obj[j];
			struct kmem_slab *s = slab_of(c, o);
			uint32_t i = obj_index(c, s, o);
			if (s->magic != (SLAB_MAGIC ^ c->secret ^ (uintptr_t)s) ||
			    i == UINT32_MAX || s->state[i] != OBJ_TAKEN ||
			    *(uint64_t *)o != mag_tag(c, o))
				return false;
		}
		cached += m->count;
	}
	return cached <= c->objects;
}

bool kmem_cache_check(struct kmem_cache *c)
{
	uint64_t inuse = 0, slabs = 0, empty = 0;
	unsigned long flags = spin_lock_irqsave(&c->lock);
	bool ok = check_magazines(c);

	for (uint32_t list = LIST_PARTIAL; ok && list <= LIST_EMPTY; list++)
		for (struct kmem_slab *s = *list_head(c, list); ok && s; s = s->next) {
			ok = check_slab(c, s, list, &inuse) && (!s->next || s->next->prev == s);
			slabs++;
			empty += list == LIST_EMPTY;
		}
	ok = ok && slabs == c->slabs && inuse == c->objects && empty == c->empty_slabs;
	spin_unlock_irqrestore(&c->lock, flags);
	return ok;
}
