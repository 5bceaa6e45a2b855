// The overview, `/`: statistics and activity besides what every page shows.

import { start } from './dashboard.js';
import { clearStats, refreshStats } from './stats.js';
import { addActivity, clearActivity } from './activity.js';

start({ loaders: [refreshStats], clear: [clearStats, clearActivity], onEvent: [addActivity] });
