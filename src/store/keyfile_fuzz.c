/* SPDX-License-Identifier: MIT */
/*
 * keyfile_fuzz.c - fuzz target for the key file parser and unlock
 * (store_keyfile_parse, store_keyfile_unlock; layout in key_int.h).
 *
 * Input: the bytes of a key file, nothing else. A rejection must be
 * SOTTO_ERR_CORRUPT or SOTTO_ERR_VERSION with the parsed struct wiped. The
 * format has one encoding per value, so a file that parses must encode back
 * to exactly the input. Files with cheap Argon2id parameters (at most 2
 * passes and 64 KiB; hashing at the 1 GiB the parser allows teaches a fuzzer
 * nothing) are then unlocked with the passphrase "fuzz" (mode 1) or none
 * (mode 2): the result must be success or SOTTO_ERR_AUTH (mode 1) /
 * SOTTO_ERR_CORRUPT (mode 2) with the key zeroed, and a key that unlocks
 * must wrap, with the file's own salt, nonce and parameters, to the input.
 * Anything else abort()s.
 *
 * Seeds in fuzz/corpus/keyfile/: made once by a throwaway generator through
 * store_keyfile_wrap: a passphrase file ("fuzz", minimum parameters), a
 * file without passphrase, and near-valid variants (version 2, mode 3,
 * memlimit 2^40, opslimit 2^32, opslimit 2 (parses, fails to unlock), a
 * nonzero salt in mode 2, empty, one byte short, one trailing byte, a
 * flipped tag byte, a flipped check byte).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/key_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PW ((const uint8_t *)"fuzz")
enum { FUZZ_PW_LEN = 4, FUZZ_OPS_MAX = 2, FUZZ_MEM_MAX = 65536 };

static void check_rewrap(const struct store_keyfile *kf, const uint8_t key[static STORE_KEY_LEN],
                         const uint8_t *data)
{
	const struct store_key_params prm = {kf->opslimit, kf->memlimit};
	bool has_pw = kf->mode == KEYFILE_MODE_PASSPHRASE;
	struct store_keyfile again;
	uint8_t back[KEYFILE_LEN];

	if (store_keyfile_wrap(&again, key, has_pw ? FUZZ_PW : NULL, has_pw ? FUZZ_PW_LEN : 0, &prm,
	                       kf->salt, kf->nonce) != SOTTO_OK)
		abort();
	store_keyfile_encode(&again, back);
	if (memcmp(back, data, KEYFILE_LEN) != 0)
		abort();
	store_keyfile_clear(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_keyfile kf;
	uint8_t back[KEYFILE_LEN];
	uint8_t key[STORE_KEY_LEN];
	bool has_pw;
	sotto_err rc;

	if (sodium_init() < 0)
		abort();
	rc = store_keyfile_parse(data, size, &kf);
	if (rc != SOTTO_OK) {
		if ((rc != SOTTO_ERR_CORRUPT && rc != SOTTO_ERR_VERSION) ||
		    !sodium_is_zero((const uint8_t *)&kf, sizeof(kf)))
			abort();
		return 0;
	}
	store_keyfile_encode(&kf, back);
	if (size != KEYFILE_LEN || memcmp(back, data, size) != 0)
		abort();
	has_pw = kf.mode == KEYFILE_MODE_PASSPHRASE;
	if (has_pw && (kf.opslimit > FUZZ_OPS_MAX || kf.memlimit > FUZZ_MEM_MAX)) {
		store_keyfile_clear(&kf);
		return 0;
	}
	memset(key, 0xa5, sizeof(key));
	rc = store_keyfile_unlock(&kf, has_pw ? FUZZ_PW : NULL, has_pw ? FUZZ_PW_LEN : 0, key);
	if (rc == SOTTO_OK)
		check_rewrap(&kf, key, data);
	else if ((rc != (has_pw ? SOTTO_ERR_AUTH : SOTTO_ERR_CORRUPT)) ||
	         !sodium_is_zero(key, sizeof(key)))
		abort();
	sodium_memzero(key, sizeof(key));
	store_keyfile_clear(&kf);
	return 0;
}
