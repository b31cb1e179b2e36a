/*-------------------------------------------------------------------------
 *
 * ri_policy.c
 *		Module load and the ri_policy.* settings.
 *
 * ri_policy.mode decides what happens when someone creates an enforced
 * foreign key: nothing (allow), a WARNING (warn) or an ERROR (block).  It is
 * PGC_SUSET, so an ordinary role cannot switch the policy off for itself;
 * superusers and roles granted SET on it can.  The prefix is reserved, so a
 * value set for a placeholder before the library was loaded is re-checked
 * (and refused, for an unprivileged role) when it loads.
 *
 * One refusal needs repair.  A value sent by the client at connection start
 * takes precedence over the role, database, configuration-file and
 * command-line values, which PostgreSQL then discards; when the library
 * loads and refuses the client's value, the setting would fall back to its
 * default, "allow".  So when loading lowered the value's source, the guard
 * re-derives the server's value, as PostgreSQL set it at connection start,
 * from the postmaster's command line (postmaster.opts), the configuration
 * files and pg_db_role_setting before it looks at the mode
 * (ri_policy_restore_settings).  If any of them cannot be read, the session
 * fails closed: its mode is block, and the guard's DETAIL says why.
 *
 * src/ri_policy.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_db_role_setting.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/varlena.h"

#include "compat.h"
#include "ri_policy.h"

PG_MODULE_MAGIC;

int			ri_policy_mode = RI_POLICY_ALLOW;
int			ri_policy_batch_size = 10000;
int			ri_policy_max_parallel_workers = -1;
int			ri_policy_min_parallel_blocks = RI_MIN_PARALLEL_BLOCKS;

static const struct config_enum_entry mode_options[] = {
	{"allow", RI_POLICY_ALLOW, false},
	{"warn", RI_POLICY_WARN, false},
	{"block", RI_POLICY_BLOCK, false},
	{NULL, 0, false}
};

/* Did loading the library refuse a value set before it was loaded? */
static bool value_refused_at_load = false;

/*
 * Where each value a setting holds came from: its reset value, every value
 * stacked under it by an enclosing function's SET clause, SET LOCAL or
 * transaction (with the level and kind of each), and its current value.
 * Defining the setting re-applies every value its placeholder held; one
 * refused leaves another source in its place, or one level fewer.
 */
static List *
value_sources(struct config_generic *gconf)
{
	List	   *sources = list_make2_int(gconf->reset_source, gconf->source);

	for (GucStack *stack = gconf->stack; stack != NULL; stack = stack->prev)
		sources = lappend_int(lappend_int(lappend_int(sources, stack->nest_level),
										  stack->state),
							  stack->source);
	return sources;
}

/* Could the server's value not be re-derived, so that block applies? */
static bool mode_failed_closed = false;

void		_PG_init(void);

/*
 * Has a setting been defined (by an earlier, failed, call of _PG_init)?
 */
static bool
defined(const char *name)
{
	struct config_generic *gconf = compat_find_guc(name);

	return gconf != NULL && (gconf->flags & GUC_CUSTOM_PLACEHOLDER) == 0;
}

/*
 * Module load: define the settings, then reserve the prefix.  Defining a
 * setting re-applies the values its placeholder held, and reserving the
 * prefix warns about each placeholder it removes; either can fail (a
 * warning that the client's encoding cannot show), after which PostgreSQL
 * loads the library again at its next use and calls this again, with what
 * was done still done: each step is done once.
 */
void
_PG_init(void)
{
	static bool hooks_installed = false;

	if (!defined("ri_policy.mode"))
	{
		struct config_generic *gconf = compat_find_guc("ri_policy.mode");
		List	   *sources_before = gconf ? value_sources(gconf) : NIL;

		PG_TRY();
		{
			DefineCustomEnumVariable("ri_policy.mode",
									 "What to do when an enforced foreign key is created.",
									 "allow: nothing; warn: emit a WARNING; block: raise an ERROR.",
									 &ri_policy_mode,
									 RI_POLICY_ALLOW,
									 mode_options,
									 PGC_SUSET,
									 0,
									 NULL, NULL, NULL);
		}
		PG_CATCH();
		{
			/* some of its values may not have been applied: derive them */
			value_refused_at_load = true;
			PG_RE_THROW();
		}
		PG_END_TRY();

		/*
		 * A value the placeholder held and the setting refused (set by a
		 * role that may not set it: a connection option, say) leaves the
		 * default in its place, not the role's or the server's value it
		 * displaced; and not only as the current value: the value under a
		 * function's SET clause, which comes back when the function returns,
		 * too.
		 */
		gconf = compat_find_guc("ri_policy.mode");
		if (sources_before != NIL && !equal(sources_before, value_sources(gconf)))
			value_refused_at_load = true;
	}

	if (!defined("ri_policy.batch_size"))
		DefineCustomIntVariable("ri_policy.batch_size",
								"Rows read per validation batch.",
								"Outside a transaction block, ri_policy.validate() commits after each batch.",
								&ri_policy_batch_size,
								10000,
								1, INT_MAX,
								PGC_USERSET,
								0,
								NULL, NULL, NULL);

	if (!defined("ri_policy.max_parallel_workers"))
		DefineCustomIntVariable("ri_policy.max_parallel_workers",
								"Background workers that help one validation pass.",
								"-1 follows max_parallel_maintenance_workers; 0 reads every child in one process.",
								&ri_policy_max_parallel_workers,
								-1,
								-1, RI_MAX_PARALLEL_WORKERS,
								PGC_USERSET,
								0,
								NULL, NULL, NULL);

	if (!defined("ri_policy.min_parallel_blocks"))
		DefineCustomIntVariable("ri_policy.min_parallel_blocks",
								"Smallest child, in blocks, whose validation pass uses workers.",
								NULL,
								&ri_policy_min_parallel_blocks,
								RI_MIN_PARALLEL_BLOCKS,
								0, INT_MAX,
								PGC_USERSET,
								GUC_UNIT_BLOCKS,
								NULL, NULL, NULL);

	MarkGUCPrefixReserved("ri_policy");

	if (!hooks_installed)
	{
		ri_guard_init();
		hooks_installed = true;
	}
}

/*
 * Apply the ri_policy.mode entry, if any, of one pg_db_role_setting row.
 */
static void
apply_db_role_setting(Relation rel, Oid databaseid, Oid roleid,
					  GucSource source)
{
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(databaseid));
	ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(roleid));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true,
							  NULL, 2, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		datum;
		Datum	   *elems;
		int			nelems;

		datum = heap_getattr(tup, Anum_pg_db_role_setting_setconfig,
							 RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;
		deconstruct_array(DatumGetArrayTypeP(datum), TEXTOID, -1, false,
						  TYPALIGN_INT, &elems, NULL, &nelems);
		for (int i = 0; i < nelems; i++)
		{
			char	   *name;
			char	   *value;

			ParseLongOption(TextDatumGetCString(elems[i]), &name, &value);
			if (value != NULL && pg_strcasecmp(name, "ri_policy.mode") == 0)
				(void) set_config_option("ri_policy.mode", value, PGC_SUSET, source,
										 GUC_ACTION_SET, true, WARNING, false);
		}
	}
	systable_endscan(scan);
}

/*
 * Apply the last ri_policy.mode entry of the configuration files, if any.
 * Returns false if a file could not be read.
 */
static bool
apply_config_files(void)
{
	const char *files[] = {ConfigFileName, PG_AUTOCONF_FILENAME};
	const char *value = NULL;

	for (int i = 0; i < lengthof(files); i++)
	{
		ConfigVariable *head = NULL;
		ConfigVariable *tail = NULL;

		if (files[i] == NULL)
			continue;
		if (!ParseConfigFile(files[i], i == 0, NULL, 0, 0, DEBUG1, &head, &tail))
		{
			FreeConfigVariables(head);
			return false;
		}
		for (ConfigVariable *item = head; item; item = item->next)
		{
			if (item->name && item->value &&
				pg_strcasecmp(item->name, "ri_policy.mode") == 0)
				value = pstrdup(item->value);
		}
		FreeConfigVariables(head);
	}

	if (value != NULL)
		(void) set_config_option("ri_policy.mode", value, PGC_SIGHUP,
								 PGC_S_FILE, GUC_ACTION_SET, true, WARNING,
								 false);
	return true;
}

/*
 * The postmaster's options that take an argument, in any version this
 * supports (its getopt string): in "-Fc name=value" the c takes the next
 * argument, in "-Fcname=value" the rest of this one.
 */
#define POSTMASTER_ARG_OPTIONS "BcCDdfhkNprStW-"

/*
 * Read a whole file into *buf.  Returns false if it does not exist, or
 * could not be read.
 */
static bool
read_whole_file(const char *path, StringInfo buf)
{
	FILE	   *file = AllocateFile(path, "r");
	bool		ok;

	if (file == NULL)
		return false;
	initStringInfo(buf);
	while (!feof(file) && !ferror(file))
	{
		char		chunk[1024];
		size_t		n = fread(chunk, 1, sizeof(chunk), file);

		appendBinaryStringInfo(buf, chunk, n);
	}
	ok = !ferror(file);
	FreeFile(file);
	return ok;
}

/*
 * The postmaster's arguments, as the kernel keeps them (Linux's
 * /proc/<pid>/cmdline: each one ended by a NUL, so read one way only).
 */
typedef enum ArgvFrom
{
	ARGV_READ,					/* *args holds them */
	ARGV_NO_PROC,				/* no such file system here */
	ARGV_FAILED					/* there is, but they could not be read */
} ArgvFrom;

static ArgvFrom
postmaster_argv(List **args)
{
	char		path[MAXPGPATH];
	struct stat st;
	StringInfoData buf;

	*args = NIL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) PostmasterPid);
	if (!read_whole_file(path, &buf))
		return stat("/proc/self/cmdline", &st) == 0 ? ARGV_FAILED : ARGV_NO_PROC;
	if (buf.len == 0 || buf.data[buf.len - 1] != '\0')
		return ARGV_FAILED;
	for (char *arg = buf.data; arg < buf.data + buf.len; arg += strlen(arg) + 1)
		*args = lappend(*args, arg);
	*args = list_delete_first(*args);	/* the program's name */
	return ARGV_READ;
}

/*
 * How many times does the text name ri_policy.mode, in any case, spelt
 * with "_" or "-" as ParseLongOption() reads it?
 */
static int
mentions_of_mode(const char *text)
{
	const char *name = "ri_policy.mode";
	size_t		len = strlen(name);
	int			n = 0;

	for (const char *p = text; *p; p++)
	{
		size_t		i;

		for (i = 0; i < len && p[i]; i++)
		{
			char		c = pg_tolower((unsigned char) p[i]);

			if (!(c == name[i] || (name[i] == '_' && c == '-')))
				break;
		}
		n += (i == len);
	}
	return n;
}

/*
 * Apply the last ri_policy.mode given on the postmaster's command line
 * ("-c ri_policy.mode=block", "-cri_policy.mode=block", "-Fc ...",
 * "--ri_policy.mode=block"; the name in any case).  PostgreSQL records
 * the arguments in postmaster.opts: the program's name, then each as
 * ' "arg"', unescaped, which an argument holding a double quote makes
 * ambiguous.  Where the kernel shows the postmaster's arguments, they are
 * read from there, and the file must say the same.  Elsewhere the file is
 * read alone, and refused if it holds a double quote inside an argument,
 * or names the setting anywhere but in the values read from it (an
 * argument holding '" "' reads as more than one).  Returns false if the
 * arguments could not be read, or could be read more than one way.
 */
static bool
apply_command_line(void)
{
	char		path[MAXPGPATH];
	StringInfoData line;
	List	   *args;
	ArgvFrom	from;
	int			mentions;
	int			nvalues = 0;
	char	   *value = NULL;
	char		pending = 0;	/* an option whose argument comes next */
	char	   *p;
	ListCell   *lc;

	snprintf(path, sizeof(path), "%s/postmaster.opts", DataDir);
	if (!read_whole_file(path, &line))
		return false;
	while (line.len > 0 && (line.data[line.len - 1] == '\n' ||
							line.data[line.len - 1] == '\r'))
		line.data[--line.len] = '\0';

	mentions = mentions_of_mode(line.data);	/* before the reading below cuts it */
	from = postmaster_argv(&args);
	if (from == ARGV_FAILED)
		return false;
	if (from == ARGV_READ)
	{
		/* the file: the program's name (no quote in it), then these */
		StringInfoData quoted;

		initStringInfo(&quoted);
		foreach(lc, args)
			appendStringInfo(&quoted, " \"%s\"", (char *) lfirst(lc));
		if (line.len < quoted.len ||
			strcmp(line.data + line.len - quoted.len, quoted.data) != 0 ||
			memchr(line.data, '"', line.len - quoted.len) != NULL)
			return false;
	}
	else
	{
		/* after the program's name, ' "arg"' each, to the end */
		p = strstr(line.data, " \"");
		while (p != NULL)
		{
			char	   *arg = p + 2;
			char	   *end = strstr(arg, "\" \"");

			if (end == NULL)
			{
				end = line.data + line.len - 1;
				if (end < arg || *end != '"')
					return false;
			}
			*end = '\0';
			if (strchr(arg, '"') != NULL)
				return false;
			args = lappend(args, arg);
			p = (end == line.data + line.len - 1) ? NULL : end + 1;
		}
	}

	/* as getopt reads them */
	foreach(lc, args)
	{
		char	   *arg = (char *) lfirst(lc);
		char	   *option = NULL;
		char		opt = 0;

		if (pending)
		{
			opt = pending;
			option = arg;
			pending = 0;
		}
		else if (strcmp(arg, "--") == 0)
			break;				/* the end of the options */
		else if (arg[0] == '-' && arg[1] != '\0')
		{
			for (char *c = arg + 1; *c; c++)
			{
				if (strchr(POSTMASTER_ARG_OPTIONS, *c) == NULL)
					continue;	/* a flag */
				opt = *c;
				if (c[1] != '\0')
					option = c + 1;
				else
					pending = opt;
				break;
			}
		}
		if ((opt == 'c' || opt == '-') && option != NULL)
		{
			char	   *name;
			char	   *optvalue;

			ParseLongOption(option, &name, &optvalue);
			if (optvalue != NULL && pg_strcasecmp(name, "ri_policy.mode") == 0)
			{
				value = optvalue;
				nvalues++;
			}
		}
	}

	if (from == ARGV_NO_PROC && mentions != nvalues)
		return false;
	if (value != NULL)
		(void) set_config_option("ri_policy.mode", value, PGC_POSTMASTER,
								 PGC_S_ARGV, GUC_ACTION_SET, true, WARNING,
								 false);
	return true;
}

/*
 * If loading the library refused a value that had displaced the role,
 * database, configuration-file or command-line value, put those back, in
 * the order and with the sources PostgreSQL uses at connection start.  If
 * one of them cannot be read, fail closed: block.  Needs a transaction; the
 * guard calls it before it reads the mode.
 */
void
ri_policy_restore_settings(void)
{
	Relation	rel;
	Oid			roleid = GetAuthenticatedUserId();

	if (!value_refused_at_load)
		return;

	/*
	 * Values of these sources are defaults, which an abort does not undo;
	 * the refusal is forgotten only once all are back, so that an error on
	 * the way (a lock timeout on pg_db_role_setting, a cancel) leaves it to
	 * the next statement to do again.
	 */
	if (!apply_config_files() || !apply_command_line())
	{
		mode_failed_closed = true;
		(void) set_config_option("ri_policy.mode", "block", PGC_SUSET,
								 PGC_S_OVERRIDE, GUC_ACTION_SET, true, ERROR,
								 false);
		value_refused_at_load = false;
		return;
	}

	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	apply_db_role_setting(rel, MyDatabaseId, roleid, PGC_S_DATABASE_USER);
	apply_db_role_setting(rel, InvalidOid, roleid, PGC_S_USER);
	apply_db_role_setting(rel, MyDatabaseId, InvalidOid, PGC_S_DATABASE);
	apply_db_role_setting(rel, InvalidOid, InvalidOid, PGC_S_GLOBAL);
	table_close(rel, AccessShareLock);
	value_refused_at_load = false;
}

/*
 * The current value of ri_policy.mode, as a user would write it.
 */
const char *
ri_policy_mode_name(void)
{
	return mode_options[ri_policy_mode].name;
}

/*
 * Say where the current value of ri_policy.mode came from, as the end of a
 * sentence: "for role "app"", "in the current session", ...  Used in the
 * DETAIL of the guard's messages so that a user can tell whom to ask.
 */
char *
ri_policy_mode_origin(void)
{
	struct config_generic *gconf = compat_find_guc("ri_policy.mode");

	if (mode_failed_closed)
		return pstrdup("for this session, because a value sent at connection start was refused and the server's own value could not be determined");
	if (gconf == NULL)
		return pstrdup("by default");

	switch (gconf->source)
	{
		case PGC_S_DEFAULT:
		case PGC_S_DYNAMIC_DEFAULT:
			return pstrdup("by default");
		case PGC_S_ENV_VAR:
		case PGC_S_ARGV:
			return pstrdup("on the server command line");
		case PGC_S_FILE:
			return pstrdup("in the server configuration file");
		case PGC_S_GLOBAL:
			return pstrdup("for all roles");
		case PGC_S_DATABASE:
			return psprintf("for database \"%s\"",
							get_database_name(MyDatabaseId));
		case PGC_S_USER:
			return psprintf("for role \"%s\"",
							GetUserNameFromId(GetAuthenticatedUserId(), false));
		case PGC_S_DATABASE_USER:
			return psprintf("for role \"%s\" in database \"%s\"",
							GetUserNameFromId(GetAuthenticatedUserId(), false),
							get_database_name(MyDatabaseId));
		case PGC_S_CLIENT:
			return pstrdup("by the client at connection start");
		case PGC_S_OVERRIDE:
			return pstrdup("by the server");
		case PGC_S_INTERACTIVE:
		case PGC_S_TEST:
		case PGC_S_SESSION:
			return pstrdup("in the current session");
	}
	return pstrdup("by default");
}
