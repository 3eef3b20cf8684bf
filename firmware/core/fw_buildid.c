/*
 * firmwatch core: helper for ports that expose the linker's GNU build-id note.
 * An ELF note is namesz:u32, descsz:u32, type:u32, name (padded to 4), desc; a build id is
 * type 3 (NT_GNU_BUILD_ID) with name "GNU". Kept in its own file so ports that do not use
 * it do not link it.
 */
#include "firmwatch.h"

static uint32_t word(const uint8_t *p)
{
    /* notes are in the target's byte order, which is the CPU's own */
    uint32_t v;
    const uint8_t *q = p;
    uint8_t *d = (uint8_t *)&v;
    d[0] = q[0];
    d[1] = q[1];
    d[2] = q[2];
    d[3] = q[3];
    return v;
}

uint8_t fw_gnu_build_id(const void *note, const uint8_t **id)
{
    const uint8_t *p = (const uint8_t *)note;
    uint32_t namesz = word(p), descsz = word(p + 4), type = word(p + 8);
    if (namesz != 4 || type != 3 || p[12] != 'G' || p[13] != 'N' || p[14] != 'U' || descsz > 255) {
        return 0;
    }
    *id = p + 16;
    return (uint8_t)descsz;
}
