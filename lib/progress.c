/* SPDX-License-Identifier: MIT */
/*
 * progress.c - names and words of the progress protocol (dfs_progress.h).
 */
#define _GNU_SOURCE
#include "dfs_progress.h"
#include "dfs_sum.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_SEP ':'

static const char *const attr_names[DFS_ATTR_COUNT] = {
	[DFS_ATTR_WRITTEN] = DFS_XATTR_PREFIX "written",
	[DFS_ATTR_SYNCED] = DFS_XATTR_PREFIX "synced",
	[DFS_ATTR_DURABLE] = DFS_XATTR_PREFIX "durable",
	[DFS_ATTR_PENDING] = DFS_XATTR_PREFIX "pending",
	[DFS_ATTR_STATE] = DFS_XATTR_PREFIX "state",
	[DFS_ATTR_OPEN_FILES] = DFS_XATTR_PREFIX "open_files",
	[DFS_ATTR_RATE] = DFS_XATTR_PREFIX "rate",
	[DFS_ATTR_STAGING] = DFS_XATTR_PREFIX "staging",
	[DFS_ATTR_FALLBACK_FILES] = DFS_XATTR_PREFIX "fallback_files",
	[DFS_ATTR_ERROR_FILES] = DFS_XATTR_PREFIX "error_files",
	[DFS_ATTR_FILES_DONE] = DFS_XATTR_PREFIX "files_done",
	[DFS_ATTR_FILES_FAILED] = DFS_XATTR_PREFIX "files_failed",
	[DFS_ATTR_PID] = DFS_XATTR_PREFIX "pid",
	[DFS_ATTR_FILES] = DFS_XATTR_PREFIX "files",
};

static const char *const state_words[DFS_STATE_COUNT] = {
	[DFS_STATE_IDLE] = "idle",	 [DFS_STATE_WRITING] = "writing",
	[DFS_STATE_SYNCING] = "syncing", [DFS_STATE_FALLBACK] = "fallback",
	[DFS_STATE_ERROR] = "error",
};

const char *dfs_attr_name(enum dfs_attr a)
{
	assert(a >= 0 && a < DFS_ATTR_COUNT);
	return attr_names[a];
}

bool dfs_attr_is_ours(const char *name)
{
	return !strncmp(name, DFS_XATTR_PREFIX, sizeof(DFS_XATTR_PREFIX) - 1) &&
	       !dfs_tag_is_attr(name);
}

int dfs_attr_lookup(const char *name)
{
	for (int a = 0; a < DFS_ATTR_COUNT; a++)
		if (!strcmp(name, attr_names[a]))
			return a;
	return -1;
}

int dfs_state_format(enum dfs_state st, int err, char *buf, size_t len)
{
	assert(st >= 0 && st < DFS_STATE_COUNT);
	assert(err <= 0);
	if (st != DFS_STATE_ERROR || !err)
		return snprintf(buf, len, "%s", state_words[st]);
	const char *name = strerrorname_np(-err);
	if (name)
		return snprintf(buf, len, "%s%c%s", state_words[st], ERROR_SEP, name);
	return snprintf(buf, len, "%s%c%d", state_words[st], ERROR_SEP, -err);
}

/* "ENOSPC" (or a number, for an errno without a name) -> -ENOSPC. */
static int errno_of_name(const char *name)
{
	char *end;
	long v = strtol(name, &end, 10);

	if (end != name && !*end)
		return v > 0 && v < 4096 ? (int)-v : 0;
	for (int e = 1; e < 4096; e++) {
		const char *n = strerrorname_np(e);
		if (n && !strcmp(n, name))
			return -e;
	}
	return 0;
}

int dfs_state_parse(const char *text, enum dfs_state *st, int *err)
{
	for (int s = 0; s < DFS_STATE_COUNT; s++) {
		size_t n = strlen(state_words[s]);

		if (strncmp(text, state_words[s], n))
			continue;
		if (!text[n]) {
			*st = (enum dfs_state)s;
			*err = 0;
			return 0;
		}
		if (s == DFS_STATE_ERROR && text[n] == ERROR_SEP) {
			int e = errno_of_name(text + n + 1);

			if (!e)
				return -EINVAL;
			*st = DFS_STATE_ERROR;
			*err = e;
			return 0;
		}
	}
	return -EINVAL;
}

int dfs_flight_format(const struct dfs_flight *fl, char *buf, size_t len)
{
	char state[48];
	size_t n;
	int head;

	dfs_state_format(fl->st, fl->err, state, sizeof(state));
	head = snprintf(buf, len, "%llu %llu %llu %s ", fl->written, fl->durable,
			fl->pending, state);
	n = (size_t)head;
	for (const char *p = fl->path; *p; p++) {
		const char *esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : NULL;
		size_t k = esc ? 2 : 1;

		if (n + k < len)
			memcpy(buf + n, esc ? esc : p, k);
		n += k;
	}
	if (n + 1 < len) {
		buf[n] = '\n';
		buf[n + 1] = '\0';
	} else if (len) {
		buf[len - 1] = '\0';
	}
	return (int)(n + 1);
}

int dfs_flight_parse(const char **text, struct dfs_flight *fl, unsigned long long *more)
{
	const char *p = *text, *end;
	char state[48], *num_end;
	size_t n = 0;
	int used = 0;

	if (!*p)
		return 0;
	end = strchr(p, '\n');
	if (!end)
		end = p + strlen(p);
	*text = *end ? end + 1 : end;
	if (*p == '+') {
		errno = 0;
		*more = strtoull(p + 1, &num_end, 10);
		return num_end > p + 1 && num_end == end && !errno ? 2 : -EINVAL;
	}
	/* The path is all after the state's one space, leading spaces too. */
	if (sscanf(p, "%llu %llu %llu %47s%n", &fl->written, &fl->durable, &fl->pending,
		   state, &used) != 4 ||
	    !used || p + used >= end || p[used] != ' ' ||
	    dfs_state_parse(state, &fl->st, &fl->err))
		return -EINVAL;
	for (p += used + 1; p < end; p++) {
		char c = *p;

		if (c == '\\') {
			if (++p == end || (*p != '\\' && *p != 'n'))
				return -EINVAL;
			c = *p == 'n' ? '\n' : '\\';
		}
		if (n + 1 >= sizeof(fl->path))
			return -EINVAL;
		fl->path[n++] = c;
	}
	fl->path[n] = '\0';
	return n ? 1 : -EINVAL;
}
