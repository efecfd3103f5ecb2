import { embedded } from '../support/engines.js';
import consoleSuite from './console.suite.js';

consoleSuite(embedded);
