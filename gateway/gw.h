/* gw.h: wattle-gateway, the process in the building between the meters and wattle.
 *
 * The parts, one file each:
 *   profile.c  meter models as data (one JSON file each in gateway/profiles): what to read, how to decode it
 *   config.c   the JSON config and --check
 *   queue.c    the on-disk queue (SQLite, WAL, synchronous): readings and command acks
 *   uplink.c   wattle over HTTP: readings out, commands in (long poll), acks out
 *   poll.c     the lanes: Modbus (TCP, RTU, RTU over TCP) and DL/T 645 (TCP, serial)
 *   mqtt.c     Shelly Gen2 and Tasmota devices on an MQTT broker (libmosquitto)
 *   main.c     the threads, metrics, signals
 * Nothing here reaches wattle's database or its layers above core: the gateway speaks to
 * wattle only through its public HTTP API, as any gateway would. */
#ifndef WATTLE_GW_H
#define WATTLE_GW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* ---- profiles ---- */

enum gw_proto { GP_MODBUS, GP_DLT645, GP_SHELLY, GP_TASMOTA };

/* The reading fields a profile may fill (the names of POST /v1/readings). */
enum gw_field { GF_ENERGY, GF_POWER, GF_VOLTAGE, GF_CURRENT, GF_PF, GF_FREQ, GF_THD_V, GF_THD_I, GF_HARM_V, GF_HARM_I,
		GF__COUNT };
/* The spectra (harmonics_v_pct, harmonics_i_pct) are GW_HARMONICS values each: orders 2 to 31,
 * in consecutive registers or a JSON array. */
#define GW_HARMONICS 30
extern const char *const gw_field_names[GF__COUNT];

enum gw_type { GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BCD, GT_SBCD, GT_NUMBER };

/* One value a meter reports, and how to turn what it says into the reading's field. */
struct gw_value {
	enum gw_field field;
	enum gw_type type;
	int function;        /* Modbus: 3 holding or 4 input */
	uint16_t reg;        /* Modbus: first register */
	uint32_t di;         /* DL/T 645 data identifier */
	int bytes;           /* DL/T 645: BCD bytes of the value */
	char path[64];       /* JSON (MQTT): "em1data:0.total_act_energy", "ENERGY.Total" */
	int count;           /* 1, or GW_HARMONICS for a spectrum */
	bool low_word_first; /* 32-bit Modbus values: the low word in the first register */
	int64_t scale_mant;  /* scale = scale_mant x 10^scale_exp, exact */
	int scale_exp;
	int64_t unit_mul;    /* to the field's unit: 1000 for kWh -> Wh and kW -> W, else 1 */
	bool has_min, has_max;
	double min, max;     /* the range of a sane value, in the profile's unit after scale */
};

#define GW_RELAY_WORDS 4
/* How a relay is switched and read back. */
struct gw_relay {
	bool present;
	/* Modbus: write_words at write_reg to trip (off) or close (on); the state read back
	 * from state_count registers at state_reg (function state_fn), compared with the
	 * same words */
	uint16_t write_reg, state_reg;
	int nwords, state_fn;
	uint16_t off_words[GW_RELAY_WORDS], on_words[GW_RELAY_WORDS];
	/* DL/T 645: control code 0x1C with N1 trip_n1 / close_n1; the state is bit state_bit
	 * of the status word at state_di, off when it equals off_when */
	uint8_t trip_n1, close_n1;
	uint32_t state_di;
	int state_bit, off_when;
	bool esam; /* the meter accepts only an encrypted 0x1C (the profile says so) */
	/* Shelly: the switch component's id */
	int switch_id;
};

#define GW_MAX_VALUES 24
#define GW_MAX_BLOCKS 12
struct gw_block {
	int function;
	uint16_t start, count;
};

struct gw_profile {
	char name[64];
	enum gw_proto proto;
	struct gw_value v[GW_MAX_VALUES];
	int nv;
	struct gw_relay relay;
	struct gw_block blocks[GW_MAX_BLOCKS]; /* Modbus: the reads that cover every value */
	int nblocks;
};

/* Format an error into err[errn]; returns -1 (for "return gw_fail(...)"). */
int gw_fail(char *err, size_t errn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Load profile `name` from dir (name.json). 0, or -1 with err set (the file, the key). */
int gw_profile_load(const char *dir, const char *name, struct gw_profile *p, char *err, size_t errn);

/* A decoded value: exact Wh for energy from integer and BCD types, else x (a spectrum: xs). */
struct gw_decoded {
	bool ok;
	int64_t wh; /* GF_ENERGY */
	double x;   /* the field's value in its unit */
	double xs[GW_HARMONICS];
	char why[96];
};
/* Decode v from Modbus registers regs (the block starting at block_start). */
void gw_value_from_regs(const struct gw_value *v, const uint16_t *regs, uint16_t block_start, struct gw_decoded *d);
/* Decode v from the raw BCD digits of a DL/T 645 reply. */
void gw_value_from_bcd(const struct gw_value *v, int64_t digits, struct gw_decoded *d);
/* Decode v from a JSON number. */
void gw_value_from_number(const struct gw_value *v, double n, struct gw_decoded *d);
/* Decode a spectrum v from a JSON array of GW_HARMONICS numbers. */
void gw_value_from_array(const struct gw_value *v, json_t *a, struct gw_decoded *d);

/* ---- meters and config ---- */

enum gw_transport { GW_MODBUS_TCP, GW_MODBUS_RTU, GW_MODBUS_RTU_TCP, GW_DLT645_TCP, GW_DLT645_SERIAL, GW_MQTT };
extern const char *const gw_transport_names[];

/* What went wrong in a poll, counted per meter and shown in the gateway's /metrics. */
enum gw_fault { GF_TIMEOUT, GF_IO, GF_CRC, GF_EXCEPTION, GF_DLT_ERROR, GF_RANGE, GF_PARSE, GF__FAULTS };
extern const char *const gw_fault_names[GF__FAULTS];

struct gw_lane;

struct gw_meter {
	int index;
	char serial[72], profile_name[64];
	struct gw_profile *p;
	enum gw_transport tr;
	char address[128];   /* host:port (TCP transports) */
	char device[128];    /* serial transports */
	int baud;
	char parity;         /* 'N', 'E' or 'O' */
	int unit;            /* Modbus unit id */
	char meter_address[16];
	uint8_t dlt_addr[6];
	char topic[128];     /* MQTT device topic (Tasmota) or prefix (Shelly) */
	int poll_s;
	uint8_t password[4], operator_code[4]; /* DL/T 645 control */
	/* runtime, owned by the meter's lane (or the MQTT thread) */
	struct gw_lane *lane;
	int64_t next_us, backoff_us;
	int fails;
	char last_relay[4]; /* "on", "off" or "" */
	/* counters, read by /metrics */
	_Atomic uint64_t polls, readings, faults[GF__FAULTS], commands, overruns;
};

struct gw_config {
	char url[256], key[160];
	char queue[256];
	char profiles[256];
	char listen[64];     /* "host:port" of /metrics (and push /commands), "" for none */
	char commands[8];    /* "pull" (default), "push" or "none" */
	char push_secret[128];
	struct {
		char host[128], username[64], password[128], cafile[256];
		int port;
		bool tls, present;
	} mqtt;
	int workers;         /* poll threads (default 8) */
	int timeout_ms;      /* a meter's answer (default 1000) */
	int batch;           /* readings per POST (default 500) */
	struct gw_meter *m;
	int nm;
	struct gw_profile *profiles_loaded;
	int nprofiles;
};

/* Read and check path; profiles are looked up in the config's "profiles", else
 * gateway/profiles under the working directory, else the installed location. 0, or -1
 * with err naming the bad key ("meters[2].transport: ..."). */
int gw_config_load(const char *path, struct gw_config *c, char *err, size_t errn);
void gw_config_free(struct gw_config *c);
/* The meter with this serial, or NULL. */
struct gw_meter *gw_config_meter(struct gw_config *c, const char *serial);

/* ---- the queue ---- */

/* Open (creating) the queue at path. 0 or -1 (logged). */
int gw_queue_open(const char *path);
void gw_queue_close(void);
/* Hand a reading (a JSON object's text, copied) to the queue; it is on disk once the
 * writer's next commit is done (group commit, a few ms). */
void gw_queue_reading(const char *meter, const char *json);
/* Readings waiting to be sent, oldest first: up to max, their ids in ids[], texts as one
 * JSON array's elements appended to out (comma-separated). Returns how many. */
struct srv_buf;
int gw_queue_peek(int max, int64_t *last_id, struct srv_buf *out);
/* The readings up to last_id reached wattle: delete them. */
void gw_queue_drop(int64_t last_id);
int64_t gw_queue_depth(void);
/* Command acks: queued durably, sent in order, dropped once wattle answered. */
void gw_queue_ack(const char *command_id, const char *json);
/* The oldest ack: 1 and its id and body (new: caller frees), or 0. */
int gw_queue_ack_peek(char *command_id, size_t n, char **json);
void gw_queue_ack_drop(const char *command_id);
/* A command already executed here: 1 (its ack re-queued if none is waiting), else 0. */
int gw_queue_done(const char *command_id);
/* Wait until the writer has committed everything handed to it so far (5 s at most). */
void gw_queue_flush(void);

/* ---- wattle ---- */

struct gw_cmd {
	char id[32], serial[72], action[12];
};
/* The uplink threads: the sender (acks, then readings) and, with commands "pull", the
 * long poll; commands go to exec. */
typedef void (*gw_exec_fn)(const struct gw_cmd *c);
void gw_uplink_start(struct gw_config *c, gw_exec_fn exec);
void gw_uplink_stop(void);
/* Tell the sender there is something to send. */
void gw_uplink_kick(void);

/* Acknowledge a command (through the queue). relay "on"/"off" or NULL. */
void gw_ack(const char *command_id, bool executed, const char *relay, const char *detail);

/* Build one reading's JSON text (new: caller frees): have[f] says which values[f] are set;
 * relay may be NULL or "". */
char *gw_reading_json(const char *serial, int64_t ts_us, const struct gw_decoded *values, const bool *have,
		      const char *relay);

/* ---- the lanes (Modbus, DL/T 645) ---- */

void gw_poll_start(struct gw_config *c);
void gw_poll_stop(void);
/* Run a command on a meter of a lane (returns at once). */
void gw_poll_command(struct gw_meter *m, const struct gw_cmd *c);

/* ---- MQTT ---- */

int gw_mqtt_start(struct gw_config *c);
void gw_mqtt_stop(void);
void gw_mqtt_command(struct gw_meter *m, const struct gw_cmd *c);

/* ---- log and counters ---- */

void gw_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
extern _Atomic uint64_t gw_sent_readings, gw_rejected_readings, gw_posts_failed, gw_acks_sent, gw_commands_in;

#endif
