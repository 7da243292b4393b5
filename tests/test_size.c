/* SPDX-License-Identifier: MIT */
/*
 * Description: sizes as users write them (lib/size.c), the one parser of
 * the daemon's size options and directfs-progress's --of: units in either
 * case with "iB" or "B", fractions of a unit, and a clear refusal of
 * everything else (signs, spaces, fractions of a byte, unknown units,
 * overflow).
 */
#include "testutil.h"
#include "dfs_size.h"

#include <errno.h>
#include <stdint.h>

static const struct {
	const char *text;
	int r;
	uint64_t want;
} cases[] = {
	{"0", 0, 0},
	{"123", 0, 123},
	{"4096B", 0, 4096},
	{"64k", 0, 64 << 10},
	{"64K", 0, 64 << 10},
	{"64KiB", 0, 64 << 10},
	{"64KB", 0, 64 << 10},
	{"1M", 0, 1 << 20},
	{"1.5M", 0, 3 << 19},
	{"0.5k", 0, 512},
	{".5K", 0, 512},
	{"2G", 0, 2ull << 30},
	{"1t", 0, 1ull << 40},
	{"3P", 0, 3ull << 50},
	{"1.0000000000000000000001K", 0, 1024}, /* digits past 10^-18 ignored */
	{"18446744073709551615", 0, UINT64_MAX},
	{"18446744073709551616", -ERANGE, 0},
	{"16384P", -ERANGE, 0},
	{"16383.9999P", 0, (16383ull << 50) + (uint64_t)(0.9999 * (1ull << 50))},
	{"", -EINVAL, 0},
	{"K", -EINVAL, 0},
	{".", -EINVAL, 0},
	{"-1", -EINVAL, 0},
	{"+1", -EINVAL, 0},
	{" 1", -EINVAL, 0},
	{"1 ", -EINVAL, 0},
	{"1.5", -EINVAL, 0},
	{"1X", -EINVAL, 0},
	{"1KK", -EINVAL, 0},
	{"1iB", -EINVAL, 0},
	{"1KiBB", -EINVAL, 0},
	{"0x10", -EINVAL, 0},
};

START_TEST(test_parse)
{
	uint64_t got = 0xdead;
	int r = dfs_parse_size(cases[_i].text, &got);

	ck_assert_msg(r == cases[_i].r, "\"%s\": returned %d, want %d", cases[_i].text, r,
		      cases[_i].r);
	if (!r)
		ck_assert_msg(got == cases[_i].want, "\"%s\": %llu, want %llu", cases[_i].text,
			      (unsigned long long)got, (unsigned long long)cases[_i].want);
	else
		ck_assert_msg(got == 0xdead, "\"%s\": failed but wrote %llu", cases[_i].text,
			      (unsigned long long)got);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "size",
		.tests = (const struct tu_test[]){
			TU_LOOP(test_parse, 0, (int)(sizeof(cases) / sizeof(cases[0]))),
			{ NULL },
		},
	});
}
