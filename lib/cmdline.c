/*
 * cmdline: parsing of the boot command line shared by the loader and the
 * kernel. Owns the splitting of the line into `name` / `name=value`
 * options and the lookups on them. Options are separated by spaces, tabs,
 * \r or \n; there is no quoting. Nothing is allocated or modified.
 */
#include <lib/cmdline.h>
#include <lib/string.h>
#include <lib/types.h>

/* One option as it appears in the command line (not NUL terminated). */
struct cmdline_opt {
	const char *name;
	size_t namelen;
	const char *value; /* NULL for a bare name */
	size_t valuelen;
};

/* True if c separates options. */
static bool is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Split off the option at or after p into opt. Returns the position just
 * after it, or NULL when there are no more options.
 */
static const char *next_opt(const char *p, struct cmdline_opt *opt)
{
	while (*p && is_sep(*p))
		p++;
	if (!*p)
		return NULL;
	opt->name = p;
	while (*p && !is_sep(*p) && *p != '=')
		p++;
	opt->namelen = (size_t)(p - opt->name);
	opt->value = NULL;
	opt->valuelen = 0;
	if (*p != '=')
		return p;
	opt->value = ++p;
	while (*p && !is_sep(*p))
		p++;
	opt->valuelen = (size_t)(p - opt->value);
	return p;
}

/* True if the option's name is exactly the NUL-terminated name. */
static bool name_is(const struct cmdline_opt *opt, const char *name)
{
	return strlen(name) == opt->namelen && memcmp(opt->name, name, opt->namelen) == 0;
}

/* Find the first option called name; NULL cmdline is empty. */
static bool find_opt(const char *cmdline, const char *name, struct cmdline_opt *opt)
{
	const char *p = cmdline ? cmdline : "";

	while ((p = next_opt(p, opt)))
		if (name_is(opt, name))
			return true;
	return false;
}

/* See cmdline.h. */
bool cmdline_has(const char *cmdline, const char *name)
{
	struct cmdline_opt opt;

	return find_opt(cmdline, name, &opt);
}

/*
 * See cmdline.h. buf may be NULL when size is 0; when the option is absent
 * or bare, buf (if size > 0) is set to the empty string.
 */
int cmdline_get(const char *cmdline, const char *name, char *buf, size_t size)
{
	struct cmdline_opt opt;
	size_t n;

	if (!find_opt(cmdline, name, &opt)) {
		if (size)
			buf[0] = '\0';
		return -1;
	}
	if (size) {
		n = MIN(opt.valuelen, size - 1);
		if (n)
			memcpy(buf, opt.value, n);
		buf[n] = '\0';
	}
	return (int)opt.valuelen;
}

/* True if the option's name is in the NULL-terminated list (NULL = empty). */
static bool is_known(const struct cmdline_opt *opt, const char *const *known)
{
	for (; known && *known; known++)
		if (name_is(opt, *known))
			return true;
	return false;
}

/* See cmdline.h. fn may be NULL to only count the unknown options. */
int cmdline_unknown(const char *cmdline, const char *const *known,
		    void (*fn)(const char *name, size_t len, void *ctx), void *ctx)
{
	struct cmdline_opt opt;
	const char *p = cmdline ? cmdline : "";
	int count = 0;

	while ((p = next_opt(p, &opt))) {
		if (is_known(&opt, known))
			continue;
		if (fn)
			fn(opt.name, opt.namelen, ctx);
		count++;
	}
	return count;
}
