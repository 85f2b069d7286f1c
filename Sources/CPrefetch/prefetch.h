// Swift has no way to ask for memory ahead of its use; the compiler builtin does.
static inline void tollbooth_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }
