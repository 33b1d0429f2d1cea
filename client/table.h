/*  table.h - the tables of `braid workers` and `braid jobs`: the broker's
    "worker_list" and "job_list" (arrays of objects in its stats JSON) as
    aligned columns with a title line, one row per object.

        NAME  HOST   PID  SLOTS  RUNNING  QUEUED  SOURCES    HEARTBEAT  VERSION
        w1    box1  4242      4        2       0  web,docs   0.3s ago   0.1.0

        ID                                CLIENT  QUERIES  TASKS    IN FLIGHT  AGE    ORDER
        4f2a...                           c-1     37/200   37/200           4  3m05s  submit

    A member that is missing, or not of the kind its column shows, is
    shown as "-"; so is an empty text. Control bytes of texts are escaped
    (\xNN): a worker's name or host cannot drive the terminal.
*/

#ifndef BRAID_TABLE_H_INCLUDED
#define BRAID_TABLE_H_INCLUDED

#include <jansson.h>
#include <stdio.h>

/*  Write the workers table of list (an array) to out. 0, or -1 when list
    is not an array.                                                        */
int
braid_table_workers(FILE *out, const json_t *list);

/*  Write the jobs table of list (an array) to out. 0, or -1 when list is
    not an array.                                                           */
int
braid_table_jobs(FILE *out, const json_t *list);

#endif
