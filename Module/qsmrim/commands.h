/*
 * commands.h - the subcommands of `qsmrim`. Each lives in cmd_<name>.c, takes the argv that
 * starts at its own name (argv[0] = "lesions"), parses its options with getopt_long, prints
 * --help, and returns an exit code from cli.h.
 */
#ifndef QR_COMMANDS_H
#define QR_COMMANDS_H

int cmd_lesions(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_import_torch(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_phantom(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);

#endif
