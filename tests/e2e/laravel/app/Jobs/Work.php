<?php

namespace App\Jobs;

use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Queue\SerializesModels;

/** A job that works for `seconds` and says when it starts and ends (with its worker's pid). */
class Work implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable, SerializesModels;

    public $timeout = 60;

    public function __construct(public int $seconds, public string $tag)
    {
    }

    public function handle()
    {
        fwrite(STDOUT, "job start {$this->tag} pid=".getmypid()."\n");
        // Sleep in slices: a signal to the worker interrupts sleep(), the job still finishes.
        $until = microtime(true) + $this->seconds;
        while (($left = $until - microtime(true)) > 0) {
            usleep((int) (min($left, 0.2) * 1000000));
        }
        fwrite(STDOUT, "job done {$this->tag}\n");
    }
}
