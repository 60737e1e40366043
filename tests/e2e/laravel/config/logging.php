<?php

use Monolog\Handler\StreamHandler;

// Everything to stderr, as a container app logs: phpeek-pm turns it into records.
return [
    'default' => 'stderr',
    'channels' => [
        'stderr' => [
            'driver' => 'monolog',
            'level' => 'debug',
            'handler' => StreamHandler::class,
            'with' => ['stream' => 'php://stderr'],
        ],
    ],
];
