/*  keys.h - what order key needs from a source's partials: each one's
    score and dedup value, read on the worker (PROTOCOL.md, "Keys").

    A keyed source (score = FIELD, and optionally dedup = FIELD and
    score_order = desc | asc) has partials that are lines: each is read as
    one JSON object with jansson, never by hand. FIELD is a member name, or
    a dotted path of member names into nested objects ("meta.rank").
    - score: the field's number, an integer or a real. A line without one
      (not a JSON object, the field missing, not a number) takes the score
      of the partial before it in its task (the best score for the first),
      so it keeps its place next to its neighbour. A source's partials are
      to be sorted by score, higher first (lower with score_order = asc);
      the broker keeps one that is not in its place in its task's stream.
      Either case is logged once per source, as a warning.
    - dedup: the field's string (its bytes), or the compact JSON text of
      another value (objects with their keys sorted); missing or null:
      none. A value over BRAID_MAX_DEDUP bytes becomes its first
      BRAID_MAX_DEDUP - 20 bytes and the SHA-1 of all of it.
    Keys are read for every partial a task makes, those below its resume
    seq too, so a resumed task reads the same scores as the first attempt.

    braid_keyer_t: a source's settings. braid_keyq_t: a task's keys of the
    partials it holds, in seq order, until they leave as a keys frame.
*/

#ifndef BRAID_KEYER_H_INCLUDED
#define BRAID_KEYER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  A FIELD path, bytes.                                                    */
#define BRAID_KEYS_MAX_FIELD 255

typedef struct braid_keyer_t braid_keyer_t;
typedef struct braid_keyq_t braid_keyq_t;

/*  What braid_keyer_set() did with a setting.                              */
typedef enum {
    BRAID_KEYER_SET = 0,    /* it was one of score, dedup, score_order      */
    BRAID_KEYER_NOT_MINE,   /* another setting: the kind's                  */
    BRAID_KEYER_BAD         /* one of them with a bad value: err says why   */
} braid_keyer_set_t;

/*  The settings of the source name (borrowed: the source outlives it), no
    score yet. NULL if out of memory.                                       */
braid_keyer_t *
braid_keyer_new(const char *name);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_keyer_destroy(braid_keyer_t **self_p);

/*  One setting of a source (key = value, lengths in bytes).               */
braid_keyer_set_t
braid_keyer_set(braid_keyer_t *self, const char *key, size_t keylen, const char *value,
                size_t vallen, char *err, size_t errsize);

/*  After the last setting: dedup and score_order need score. 0, or -1 with
    the reason in err.                                                      */
int
braid_keyer_check(const braid_keyer_t *self, char *err, size_t errsize);

/*  True if the source has a score: its partials carry keys. NULL (a source
    built without settings): false.                                        */
bool
braid_keyer_keyed(const braid_keyer_t *self);

/*  HELLO K for the source: BRAID_SOURCE_KEYED, BRAID_SOURCE_SCORE_ASC (0
    when not keyed, NULL too).                                              */
uint32_t
braid_keyer_flags(const braid_keyer_t *self);

/*  A task's keys, read with keyer (a keyed one: borrowed, it outlives the
    queue; its once-per-source warnings are noted in it). NULL if out of
    memory.                                                                 */
braid_keyq_t *
braid_keyq_new(braid_keyer_t *keyer);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_keyq_destroy(braid_keyq_t **self_p);

/*  Read the keys of the task's next partial, data[0..size). held: it will
    be sent, keep its keys; else (a seq below resume) only its score counts
    for the next. 0, or -1 out of memory (nothing kept).                    */
int
braid_keyq_add(braid_keyq_t *self, const void *data, size_t size, bool held);

/*  Partials whose keys are held.                                           */
size_t
braid_keyq_held(const braid_keyq_t *self);

/*  The keys frame of the first n held partials (n <= held, and at most a
    batch); they stay held until braid_keyq_drop(). NULL if out of memory. */
zframe_t *
braid_keyq_frame(const braid_keyq_t *self, size_t n);

/*  The first n held partials left (or are dropped): forget their keys.    */
void
braid_keyq_drop(braid_keyq_t *self, size_t n);

#endif
