//! The client subcommands (`phpeek-pm status|start|stop|restart|scale|logs`): a small blocking
//! HTTP/1.1 client over TCP or a Unix socket. It runs in the short-lived client process, never
//! in the manager's loop.
