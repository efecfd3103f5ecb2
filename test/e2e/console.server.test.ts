import { server } from '../support/engines.js';
import consoleSuite from './console.suite.js';

consoleSuite(server);
