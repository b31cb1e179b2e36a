/*-------------------------------------------------------------------------
 *
 * follow.h
 *		Following DDL at ddl_command_end (follow.c).
 *
 * src/follow.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RI_POLICY_FOLLOW_H
#define RI_POLICY_FOLLOW_H

#include "nodes/nodes.h"

extern void ri_follow_ddl(Node *parsetree);

#endif							/* RI_POLICY_FOLLOW_H */
