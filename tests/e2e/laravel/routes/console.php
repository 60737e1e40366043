<?php

use App\Jobs\Work;
use Illuminate\Support\Facades\Artisan;

// php artisan app:dispatch SECONDS TAG: queue one job on the database queue.
Artisan::command('app:dispatch {seconds} {tag}', function ($seconds, $tag) {
    Work::dispatch((int) $seconds, $tag);
    $this->info("dispatched {$tag}");
});

// php artisan app:boom: a real exception from deep in a call chain (20 frames or more).
Artisan::command('app:boom', function () {
    $dive = function ($n) use (&$dive) {
        if ($n === 0) {
            throw new RuntimeException('Billing provider unreachable');
        }
        return $dive($n - 1);
    };
    $dive(12);
});
