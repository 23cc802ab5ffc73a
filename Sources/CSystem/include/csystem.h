#ifndef CSYSTEM_H
#define CSYSTEM_H

/// Atomically exchanges two paths (Linux renameat2 with RENAME_EXCHANGE). Returns 0 on success, -1 with
/// errno set otherwise (ENOSYS where the system has no such call, EINVAL where the file system refuses it).
int ckpt_rename_exchange(const char *a, const char *b);

#endif
