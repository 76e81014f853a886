/*
 * Secure Boot's policy for each command-line option: with Secure Boot on,
 * an option that turns a protection off (or, loglevel=debug, prints the
 * kernel's addresses and so gives KASLR away) is removed from the line the
 * kernel gets, so the kernel needs no policy of its own. The reasons for
 * each choice are in docs/design.md (Secure Boot chain of trust).
 */
#include "options.h"

#include <lib/string.h>

const struct option_policy option_policies[] = {
    {"loglevel", SB_DROP_IF_VALUE, "debug"}, /* debug prints kernel addresses */
    {"nokaslr", SB_DROP, NULL},
    {"ktest", SB_KEEP, NULL}, /* tests probe faults through the fixup table only */
    {"crash", SB_DROP, NULL}, /* breaks the kernel on purpose */
    {"nosmep", SB_DROP, NULL},
    {"nosmap", SB_DROP, NULL},
    {"noumip", SB_DROP, NULL},
    {"nopcid", SB_KEEP, NULL},	  /* a TLB strategy, not a protection */
    {"noinvpcid", SB_KEEP, NULL}, /* likewise */
    {"heapdebug", SB_KEEP, NULL}, /* more checks, not fewer */
    {"nosmp", SB_KEEP, NULL},	  /* fewer CPUs: no protection is off */
    {"smp_skip", SB_KEEP, NULL},  /* likewise */
    {"lockdebug", SB_KEEP, NULL}, /* likewise; reports name functions, not addresses */
    {"kernel", SB_KEEP, NULL},	  /* the file must still have the pinned hash */
    {"errorwait", SB_KEEP, NULL},
    {"efifail", SB_KEEP, NULL}, /* forces ExitBootServices retries: at worst no boot */
    {"garbage", SB_KEEP, NULL}, /* fills fresh pages with a pattern: hides nothing */
    {NULL, SB_KEEP, NULL},
};

const struct option_policy *option_policy_find(const char *name, size_t len)
{
	for (const struct option_policy *p = option_policies; p->name; p++)
		if (strlen(p->name) == len && memcmp(p->name, name, len) == 0)
			return p;
	return NULL;
}

static bool is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True if the option tok (len bytes, "name" or "name=value") is dropped. */
static bool dropped_option(const char *tok, size_t len)
{
	size_t name_len = 0;

	while (name_len < len && tok[name_len] != '=')
		name_len++;
	const struct option_policy *p = option_policy_find(tok, name_len);
	if (!p || p->policy == SB_KEEP)
		return false;
	if (p->policy == SB_DROP)
		return true;
	const char *value = name_len < len ? tok + name_len + 1 : "";
	size_t value_len = name_len < len ? len - name_len - 1 : 0;
	return strlen(p->value) == value_len && memcmp(p->value, value, value_len) == 0;
}

int options_secure_filter(char *cmdline, void (*dropped)(const char *tok, size_t len, void *ctx),
			  void *ctx)
{
	const char *in = cmdline;
	char *out = cmdline;
	int count = 0;

	while (*in) {
		while (*in && is_sep(*in))
			in++;
		size_t len = 0;
		while (in[len] && !is_sep(in[len]))
			len++;
		if (len == 0)
			break;
		if (dropped_option(in, len)) {
			dropped(in, len, ctx);
			count++;
		} else {
			if (out != cmdline)
				*out++ = ' ';
			memmove(out, in, len); /* out never passes in */
			out += len;
		}
		in += len;
	}
	*out = 0;
	return count;
}
